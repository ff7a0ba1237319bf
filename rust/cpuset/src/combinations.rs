//! The kubelet's `iterateCombinations`, including what Go's `append` does to the combinations.
//!
//! The kubelet builds each k-subset with `append(accum, n[i])` on a shared prefix. When the
//! prefix's backing array has spare capacity, sibling subsets are written into the SAME array, so
//! a subset the caller kept (`bestCombo = combo`) changes under it as the walk goes on: its last
//! elements become those of later siblings. The distributed algorithm then allocates from the
//! changed subset. To return what the kubelet returns we replay Go's slice semantics: each
//! subset is a (backing array, length) view into an arena, and capacities grow as Go's runtime
//! grows them (doubling below 256 elements; NUMA node counts stay far below that).

/// A Go slice header: where its backing array starts in the arena, its length, its capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slice {
    start: usize,
    len: usize,
    cap: usize,
}

/// The backing arrays of one walk, bump-allocated in one buffer (a walk makes hundreds of
/// small arrays; one malloc each was most of its time); views stay readable until dropped.
#[derive(Default)]
pub(crate) struct Arena {
    data: Vec<usize>,
}

pub(crate) enum Loop {
    Continue,
    Break,
}

impl Arena {
    pub fn get(&self, s: Slice) -> &[usize] {
        &self.data[s.start..s.start + s.len]
    }

    /// Go's `append(s, x)` for a one-element append.
    fn append(&mut self, s: Slice, x: usize) -> Slice {
        if s.len < s.cap {
            self.data[s.start + s.len] = x;
            return Slice {
                len: s.len + 1,
                ..s
            };
        }
        // runtime.growslice: the needed length if that is more than double, else double.
        let cap = if s.len + 1 > 2 * s.cap {
            s.len + 1
        } else {
            2 * s.cap
        };
        let start = self.data.len();
        self.data.extend_from_within(s.start..s.start + s.len);
        self.data.push(x);
        self.data.resize(start + cap, 0);
        Slice {
            start,
            len: s.len + 1,
            cap,
        }
    }

    /// Call `f` on every k-subset of `n` in lexicographic index order until it returns `Break`;
    /// `f` gets the subset's values and its slice (valid in this arena, may change later).
    pub fn iterate<F>(&mut self, n: &[usize], k: usize, f: &mut F)
    where
        F: FnMut(&[usize], Slice) -> Loop,
    {
        if k < 1 {
            return;
        }
        // Room for a small walk's arrays up front (each growth copies the buffer).
        self.data.reserve(256);
        let empty = Slice {
            start: self.data.len(),
            len: 0,
            cap: 0,
        };
        self.helper(n, k, 0, empty, f);
    }

    fn helper<F>(&mut self, n: &[usize], k: usize, start: usize, accum: Slice, f: &mut F) -> Loop
    where
        F: FnMut(&[usize], Slice) -> Loop,
    {
        if k == 0 {
            return f(self.get(accum), accum);
        }
        let mut i = start;
        while i + k <= n.len() {
            let next = self.append(accum, n[i]);
            if let Loop::Break = self.helper(n, k - 1, i + 1, next, f) {
                return Loop::Break;
            }
            i += 1;
        }
        Loop::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(n: &[usize], k: usize) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
        let mut arena = Arena::default();
        let (mut seen, mut kept) = (Vec::new(), Vec::new());
        arena.iterate(n, k, &mut |values, slice| {
            seen.push(values.to_vec());
            kept.push(slice);
            Loop::Continue
        });
        let kept = kept.into_iter().map(|s| arena.get(s).to_vec()).collect();
        (seen, kept)
    }

    #[test]
    fn visits_subsets_in_order() {
        let (seen, kept) = walk(&[10, 11, 12], 2);
        assert_eq!(seen, [vec![10, 11], vec![10, 12], vec![11, 12]]);
        assert_eq!(kept, seen, "two-element subsets never share an array");
    }

    #[test]
    fn four_element_subsets_alias_like_go() {
        // Prefix (0,1,2) has capacity 4: (0,1,2,3) and (0,1,2,4) share one array, so a kept
        // (0,1,2,3) reads (0,1,2,4) once the walk has moved on.
        let (seen, kept) = walk(&[0, 1, 2, 3, 4], 4);
        assert_eq!(seen[0], [0, 1, 2, 3]);
        assert_eq!(kept[0], [0, 1, 2, 4]);
        assert_eq!(kept[1], [0, 1, 2, 4]);
        assert_eq!(kept[2], [0, 1, 3, 4]);
        // Five-element subsets get a fresh array each (prefix of 4 is full).
        let (seen, kept) = walk(&[0, 1, 2, 3, 4, 5], 5);
        assert_eq!(seen, kept);
    }
}
