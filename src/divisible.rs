//! Width rounding shared by architecture and space files (mobile-vision's `get_divisible_by`).

/// `divisible(x, d)`: `x` itself when it is a multiple of `d`; otherwise `x/d` rounded half-up
/// (at least 1) times `d`, plus `d` more when that fell below `0.95 x`; never below `d`.
pub fn divisible(x: f64, d: usize) -> usize {
    let d_f = d as f64;
    if x.fract() == 0.0 && (x as usize).is_multiple_of(d) && x > 0.0 {
        return x as usize;
    }
    let mut v = ((x / d_f + 0.5).floor().max(1.0) as usize) * d;
    if (v as f64) < 0.95 * x {
        v += d;
    }
    v.max(d)
}

/// Hidden width of a squeeze-excitation on `mid` channels: `divisible(floor(mid / 4), d)`.
pub fn se_hidden(mid: usize, d: usize) -> usize {
    divisible((mid as f64 * 0.25).floor(), d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_up_and_bumps_below_95_percent() {
        // 36 / 8 = 4.5 rounds up to 5 (banker's rounding would give 4).
        assert_eq!(divisible(36.0, 8), 40);
        // 8 * 5.4566 = 43.65: rounds to 40, which is below 0.95 x, so 48.
        assert_eq!(divisible(8.0 * 5.4566, 8), 48);
        assert_eq!(divisible(24.0, 8), 24);
        assert_eq!(divisible(3.0, 8), 8);
        assert_eq!(divisible(0.0, 8), 8);
        assert_eq!(se_hidden(144, 8), 40);
    }
}
