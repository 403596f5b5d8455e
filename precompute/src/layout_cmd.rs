//! `precompute layout`: what an index of N images holds on disk and what the browser
//! fetches per action, computed from the writers' rules (`index_shards::Layout`) without
//! writing anything: the figures at sizes no machine here can build (262.5M images).

use anyhow::Result;
use clap::Args;
use dataset::items_table::{CHUNKS_PER_PAGE, TableShape};
use index_shards::{Layout, LayoutConfig, RowBlocksConfig, TreeSetConfig};

use crate::index_cmd::{ShardSizes, SubsetGroups, parse_subsets};

/// Print the files and the bytes per action of an index of N images, from the format.
#[derive(Args)]
pub struct LayoutArgs {
    /// Images in the collection.
    #[arg(long)]
    n: u64,
    /// Feature dims.
    #[arg(long, default_value_t = 32)]
    dims: usize,
    /// At most this many points per kd-tree leaf.
    #[arg(long, default_value_t = 500)]
    leaf_size: usize,
    /// Feature subsets, as `dims:count` groups.
    #[arg(long, default_value = "4:64,6:32,8:8", value_parser = parse_subsets)]
    subsets: SubsetGroups,
    #[command(flatten)]
    shards: ShardSizes,
    /// A round's labelled images whose rows no fetched file holds.
    #[arg(long, default_value_t = 60)]
    labelled: u64,
    /// Trees a round's boxes query (one leaf file each).
    #[arg(long, default_value_t = 25)]
    trees: u64,
    /// Images a round's boxes with a post-tree hold, whose rows are fetched (each in a block
    /// of its own); boxes without one read no row.
    #[arg(long, default_value_t = 2000)]
    held: u64,
    /// Items per metadata chunk (ingest's default).
    #[arg(long, default_value_t = ingest::ITEMS_PER_CHUNK)]
    items_per_chunk: u32,
    /// Mean bytes of an item chunk (captions, thumbnail names, sources): about 15 KB at 128
    /// photos with captions.
    #[arg(long, default_value_t = 15_000)]
    item_chunk_bytes: u64,
}

/// Runs the subcommand.
pub fn run(args: &LayoutArgs) -> Result<()> {
    let config = LayoutConfig {
        dims: args.dims,
        trees: TreeSetConfig {
            leaf_size: args.leaf_size,
            subsets: args.subsets.0.clone(),
            ..TreeSetConfig::default()
        },
        shards: args.shards.config(),
        rows: RowBlocksConfig::default(),
    };
    let layout = Layout::new(args.n, &config)?;
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    println!("{} images of {} dims\n", args.n, args.dims);
    println!("| files | count | mean size | in all |\n|---|---|---|---|");
    for kind in &layout.kinds {
        println!(
            "| {} | {} | {} B | {:.1} MiB |",
            kind.kind,
            kind.files,
            kind.mean_bytes(),
            mib(kind.bytes)
        );
    }
    let items = TableShape::of(args.n, args.items_per_chunk, CHUNKS_PER_PAGE);
    println!(
        "| items-top | 1 | {0} B | {1:.1} MiB |\n| items-page | {2} | {3} B | {4:.1} MiB |\n\
         | items (chunks) | {5} | {6} B | {7:.1} MiB |",
        items.top_bytes,
        mib(items.top_bytes),
        items.pages,
        items.page_bytes,
        mib(items.pages * items.page_bytes),
        items.chunks,
        args.item_chunk_bytes,
        mib(items.chunks * args.item_chunk_bytes)
    );
    println!(
        "\n{:.0} bytes per image stored in the index (item chunks and thumbnails not counted)\n",
        layout.bytes_per_row()
    );
    println!("| action | fetched | what |\n|---|---|---|");
    for (action, bytes, what) in layout.actions(args.labelled, args.trees, args.held) {
        println!("| {action} | {:.1} MiB | {what} |", mib(bytes));
    }
    // A grid's captions: each of its item chunks, and the table page that names it.
    let page = 60;
    let scattered = page.min(items.pages) * items.page_bytes + page * args.item_chunk_bytes;
    println!(
        "| open: the items table | {:.3} MiB | its top ({} pages of {} chunks) |\n\
         | captions of the first grid | {:.3} MiB | one page and one chunk |\n\
         | captions of a k-NN page | {:.1} MiB | at most {page} pages and {page} chunks (scattered ids) |",
        mib(items.top_bytes),
        items.pages,
        CHUNKS_PER_PAGE,
        mib(items.page_bytes + args.item_chunk_bytes),
        mib(scattered)
    );
    Ok(())
}
