//! The `--device` flag: which burn backend runs the model.

use anyhow::{Result, bail};
use burn::tensor::Device;
use clap::ValueEnum;

/// A burn device kind the CLI can run on; GPU kinds need their cargo feature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum DeviceKind {
    /// burn's pure-Rust CPU backend (SIMD, all cores).
    #[default]
    Flex,
    /// CUDA (build with `--features cuda`).
    Cuda,
    /// Vulkan, Metal or DX12 through wgpu (build with `--features wgpu`).
    Wgpu,
}

impl DeviceKind {
    /// The burn device, or an error saying which feature the build lacks.
    pub fn device(self) -> Result<Device> {
        match self {
            DeviceKind::Flex => Ok(Device::flex()),
            #[cfg(feature = "cuda")]
            DeviceKind::Cuda => Ok(Device::cuda(0)),
            #[cfg(feature = "wgpu")]
            DeviceKind::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[allow(unreachable_patterns)] // every kind is reachable with all features on
            other => bail!(
                "this build has no {other:?} backend: rebuild with `cargo build --release -p precompute --features {}`",
                format!("{other:?}").to_lowercase()
            ),
        }
    }
}
