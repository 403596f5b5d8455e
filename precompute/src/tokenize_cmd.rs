//! `precompute tokenize`: the CLIP BPE ids of texts, as open_clip's tokenizer gives them.

use anyhow::{Context, Result};
use clap::Args;
use clip::{CONTEXT_LENGTH, END_OF_TEXT, Tokenizer};

/// Print the token ids of each text (start and end tokens included, no padding).
#[derive(Args)]
pub struct TokenizeArgs {
    /// A text to tokenize, whatever its first character (`-5 apples` too); repeat the flag
    /// for several.
    #[arg(long = "text", required = true, allow_hyphen_values = true)]
    texts: Vec<String>,
    /// Context length: longer texts are truncated as open_clip does.
    #[arg(long, default_value_t = CONTEXT_LENGTH)]
    context_length: usize,
}

/// Runs the subcommand: one JSON list of ids per text, one per line.
pub fn run(args: &TokenizeArgs) -> Result<()> {
    let tokenizer = Tokenizer::new().context("cannot read the embedded CLIP vocabulary")?;
    for text in &args.texts {
        let ids = tokenizer.tokenize(text, args.context_length);
        // Everything after the last end token is padding; a text that spells
        // `<end_of_text>` holds more than one.
        let end = ids
            .iter()
            .rposition(|&id| id == END_OF_TEXT)
            .map_or(ids.len(), |at| at + 1);
        println!("{}", serde_json::to_string(&ids[..end])?);
    }
    Ok(())
}
