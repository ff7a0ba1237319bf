"""Composition root: the only package that builds concrete objects and hands them to each other.
May import every drafast package except drafast.testing.

* ``cli`` -- the ``drafast`` command; ``run`` is parsed in two steps (driver, then its options);
* ``schema`` -- settings dataclasses -> argparse options, env vars, YAML keys, command lines;
* ``settings`` -- :class:`RunOptions` (the common settings) and their resolution;
* ``drivers`` -- finding a driver's ``KIND``: built-ins, entry points, ``module:attr``;
* ``process`` -- one process: the object graph of a role (``node`` or ``controller``);
* ``components`` -- the parts a role is made of (ops server, publisher, health, driver loop,
  kubelet plugin, the Lease gate); ``lifecycle`` starts them in order and stops them in reverse;
* ``cluster`` -- the two backends (API server, ``dir:`` store) behind the same ports;
* ``serve`` -- ``drafast run`` until a signal; ``ops``, ``logs``, ``demo``, ``kubelet_cmd``.
"""
