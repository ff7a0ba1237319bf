"""The ``resource.k8s.io`` vocabulary: names, limits, quantities, slice and claim codecs."""
