//! The embedded DejaVu Sans font. plotters is built without font-kit, so no system font
//! library or font file is needed at build or run time; text is rasterised with ab_glyph
//! from these bytes.

use std::sync::OnceLock;

use plotters::style::FontStyle;

use super::error::{ReportError, Result};

const REGULAR: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fonts/DejaVuSans.ttf"
));
const BOLD: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fonts/DejaVuSans-Bold.ttf"
));

/// The family name figures draw with. Registering the embedded font under the generic
/// name makes SVG viewers fall back to their own sans-serif face, since SVG text is not
/// outlined.
pub const FAMILY: &str = "sans-serif";

/// Register the fonts once per process; every draw function calls this first.
pub fn ensure_registered() -> Result<()> {
    static DONE: OnceLock<Result<(), &'static str>> = OnceLock::new();
    let outcome = DONE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, REGULAR)
            .map_err(|_| "DejaVuSans.ttf")?;
        plotters::style::register_font(FAMILY, FontStyle::Bold, BOLD)
            .map_err(|_| "DejaVuSans-Bold.ttf")?;
        Ok(())
    });
    outcome.map_err(|name| ReportError::Font { name })
}
