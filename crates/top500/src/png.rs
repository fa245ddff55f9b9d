//! PNG output: the SVG pictures rasterised with resvg, text set in the embedded DejaVu Sans.
//!
//! Drawing once (SVG, through plotters) and rasterising that document keeps the two formats identical
//! and needs no font support inside plotters. The font is compiled in (`fonts/`), and no system font is
//! looked up, so a PNG comes out the same on every machine.

use std::sync::Arc;

use resvg::{tiny_skia, usvg};

use crate::error::Error;

const DEJAVU_SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

fn render_err(message: impl std::fmt::Display) -> Error {
    Error::Render {
        what: "PNG".into(),
        message: message.to_string(),
    }
}

/// Rasterise an SVG document to PNG bytes at `scale` (1.0 = one pixel per SVG unit).
pub fn svg_to_png(svg: &str, scale: f32) -> Result<Vec<u8>, Error> {
    if !(scale.is_finite() && scale > 0.0 && scale <= 8.0) {
        return Err(Error::Usage(format!("PNG scale {scale} is outside (0, 8]")));
    }
    let mut fonts = usvg::fontdb::Database::new();
    fonts.load_font_data(DEJAVU_SANS.to_vec());
    fonts.set_sans_serif_family("DejaVu Sans");
    let options = usvg::Options {
        font_family: "DejaVu Sans".into(),
        fontdb: Arc::new(fonts),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(render_err)?;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(scale)
        .ok_or_else(|| render_err("picture has no size"))?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or_else(|| {
        render_err(format!(
            "cannot allocate {}×{} pixels",
            size.width(),
            size.height()
        ))
    })?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(render_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rasterises_text() {
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40">
            <text x="5" y="25" font-family="sans-serif" font-size="20">TOP500</text></svg>"#;
        let png = svg_to_png(svg, 1.0).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let blank = svg_to_png(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"/>"#,
            1.0,
        )
        .unwrap();
        assert_ne!(png, blank, "the text must leave pixels");
        assert!(svg_to_png("<svg", 1.0).is_err());
        assert!(svg_to_png(svg, 0.0).is_err());
    }
}
