//! Row widths known at compile time where it matters for speed.
//!
//! Hot loops over rows of 4, 6, 8 or 32 bytes are written once, generic over [`RowWidth`];
//! with a [`Fixed`] width the compiler turns row copies and distance sums into a few wide
//! moves and vector instructions, and [`AnyWidth`] keeps every other width working.

/// A number of bytes per row.
pub(crate) trait RowWidth: Copy + Send + Sync {
    /// The width in bytes.
    fn get(self) -> usize;
}

/// A width fixed at compile time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fixed<const W: usize>;

impl<const W: usize> RowWidth for Fixed<W> {
    #[inline(always)]
    fn get(self) -> usize {
        W
    }
}

/// A width known only at run time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AnyWidth(pub(crate) usize);

impl RowWidth for AnyWidth {
    #[inline(always)]
    fn get(self) -> usize {
        self.0
    }
}

/// Calls `$body` with `$w` bound to the fastest [`RowWidth`] for `$width`.
macro_rules! with_width {
    ($width:expr, $w:ident => $body:expr) => {
        match $width {
            4 => {
                let $w = $crate::width::Fixed::<4>;
                $body
            }
            6 => {
                let $w = $crate::width::Fixed::<6>;
                $body
            }
            8 => {
                let $w = $crate::width::Fixed::<8>;
                $body
            }
            32 => {
                let $w = $crate::width::Fixed::<32>;
                $body
            }
            other => {
                let $w = $crate::width::AnyWidth(other);
                $body
            }
        }
    };
}
pub(crate) use with_width;
