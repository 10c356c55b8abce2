//! Laying consecutive pieces out in one vector: where each piece starts, and the vector cut into
//! its pieces, so that threads can each fill their own.

/// Where each piece starts when pieces of `sizes` lie back to back from 0 (an exclusive prefix
/// sum: `[3, 0, 2]` gives `[0, 3, 3]`).
pub fn starts(sizes: impl IntoIterator<Item = usize>) -> Vec<usize> {
    sizes.into_iter().scan(0, |at, n| Some(std::mem::replace(at, *at + n))).collect()
}

/// `v` cut into consecutive pieces of `sizes` (their sum at most `v`'s length).
pub fn split_by_sizes<'a, T>(mut v: &'a mut [T], sizes: &[usize]) -> Vec<&'a mut [T]> {
    let mut pieces = Vec::with_capacity(sizes.len());
    for &size in sizes {
        let (piece, rest) = std::mem::take(&mut v).split_at_mut(size);
        pieces.push(piece);
        v = rest;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_start_where_the_ones_before_end() {
        assert_eq!(starts([3, 0, 2]), vec![0, 3, 3]);
        assert_eq!(starts(Vec::<usize>::new()), Vec::<usize>::new());
        let mut v: Vec<u32> = (0..6).collect();
        let pieces = split_by_sizes(&mut v, &[3, 0, 2]);
        let got: Vec<Vec<u32>> = pieces.into_iter().map(|p| p.to_vec()).collect();
        assert_eq!(got, vec![vec![0, 1, 2], vec![], vec![3, 4]]);
    }
}
