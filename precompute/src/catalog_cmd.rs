//! `precompute catalog`: the list of datasets a frontend offers (`catalog.json`), from the
//! `dataset.json` of each dataset folder, with sizes summed from the files on disk and
//! paths relative to the catalog's folder.

use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use dataset::{Catalog, CatalogEntry, DATASET_FILE, DatasetManifest};

use crate::output::write_atomic;

/// Write catalog.json listing dataset folders (name, description, size, path).
#[derive(Args)]
pub struct CatalogArgs {
    /// The catalog file to write.
    #[arg(long)]
    out: PathBuf,
    /// Dataset folders, in display order.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: &CatalogArgs) -> Result<()> {
    let out = std::path::absolute(&args.out)
        .with_context(|| format!("cannot resolve {}", args.out.display()))?;
    let base = out.parent().unwrap_or(Path::new("/"));
    let mut catalog = Catalog::default();
    for dir in &args.dirs {
        let path = dir.join(DATASET_FILE);
        let text =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let manifest = DatasetManifest::from_json(&text)
            .with_context(|| format!("invalid {}", path.display()))?;
        let dir = std::path::absolute(dir)
            .with_context(|| format!("cannot resolve {}", dir.display()))?;
        catalog.datasets.push(CatalogEntry {
            name: manifest.name,
            description: manifest.description,
            count: manifest.count,
            bytes: folder_bytes(&dir)?,
            path: relative_path(base, &dir)?,
        });
    }
    let mut json = serde_json::to_vec_pretty(&catalog).context("cannot serialise the catalog")?;
    json.push(b'\n');
    write_atomic(&out, &json)?;
    eprintln!(
        "wrote {} ({} datasets)",
        out.display(),
        catalog.datasets.len()
    );
    Ok(())
}

/// Bytes of every file a host serves from `dir`: hidden entries (such as `.work/`) left out.
fn folder_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let meta = entry
            .path()
            .metadata()
            .with_context(|| format!("cannot read {}", entry.path().display()))?;
        total += if meta.is_dir() {
            folder_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// `target` relative to `base` (both absolute), `/`-separated, without a final `/`.
fn relative_path(base: &Path, target: &Path) -> Result<String> {
    let normal = |p: &Path| -> Vec<String> {
        let mut parts: Vec<String> = Vec::new();
        for component in p.components() {
            match component {
                Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
                Component::ParentDir => {
                    parts.pop();
                }
                _ => {}
            }
        }
        parts
    };
    let (base, target) = (normal(base), normal(target));
    let common = base.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; base.len() - common];
    parts.extend(target[common..].iter().map(String::as_str));
    if parts.is_empty() {
        bail!(
            "the dataset folder {} is the catalog's own folder",
            target.join("/")
        );
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::relative_path;
    use std::path::Path;

    #[test]
    fn relative_paths() {
        let rel = |a: &str, b: &str| relative_path(Path::new(a), Path::new(b)).unwrap();
        assert_eq!(rel("/srv/web", "/srv/web/datasets/cifar"), "datasets/cifar");
        assert_eq!(
            rel("/srv/web/x", "/srv/data/./a/../cifar"),
            "../../data/cifar"
        );
        assert!(relative_path(Path::new("/srv"), Path::new("/srv/")).is_err());
    }
}
