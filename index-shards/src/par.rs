//! Data parallelism natively (rayon), the same code sequentially in wasm.
//!
//! Results come back in input order either way, so parallelism never changes an output.

/// Maps `f` over `items`, in parallel where threads exist, keeping the input order.
#[cfg(not(target_family = "wasm"))]
pub(crate) fn map_ordered<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync + Send,
{
    use rayon::prelude::*;
    items.par_iter().map(f).collect()
}

/// Maps `f` over `items`, in parallel where threads exist, keeping the input order.
#[cfg(target_family = "wasm")]
pub(crate) fn map_ordered<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    F: Fn(&T) -> R,
{
    items.iter().map(f).collect()
}
