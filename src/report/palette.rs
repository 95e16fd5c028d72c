//! Colours. Classes use Tableau 10 (designed to stay distinguishable under the common
//! colour-vision deficiencies and in greyscale print); bar-chart series use Okabe-Ito so that
//! a protocol is never mistaken for a class; the confusion matrix uses a single-hue
//! sequential ramp so that darker always means more.

use plotters::style::RGBColor;

const TABLEAU10: [RGBColor; 10] = [
    RGBColor(0x4E, 0x79, 0xA7), // blue
    RGBColor(0xF2, 0x8E, 0x2B), // orange
    RGBColor(0xE1, 0x57, 0x59), // red
    RGBColor(0x76, 0xB7, 0xB2), // teal
    RGBColor(0x59, 0xA1, 0x4F), // green
    RGBColor(0xED, 0xC9, 0x48), // yellow
    RGBColor(0xB0, 0x7A, 0xA1), // purple
    RGBColor(0xFF, 0x9D, 0xA7), // pink
    RGBColor(0x9C, 0x75, 0x5F), // brown
    RGBColor(0xBA, 0xB0, 0xAC), // grey
];

const OKABE_ITO: [RGBColor; 7] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0xF0, 0xE4, 0x42), // yellow
];

/// ColorBrewer "Blues" (9 classes), light to dark.
const BLUES: [RGBColor; 9] = [
    RGBColor(0xF7, 0xFB, 0xFF),
    RGBColor(0xDE, 0xEB, 0xF7),
    RGBColor(0xC6, 0xDB, 0xEF),
    RGBColor(0x9E, 0xCA, 0xE1),
    RGBColor(0x6B, 0xAE, 0xD6),
    RGBColor(0x42, 0x92, 0xC6),
    RGBColor(0x21, 0x71, 0xB5),
    RGBColor(0x08, 0x51, 0x9C),
    RGBColor(0x08, 0x30, 0x6B),
];

pub const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
pub const MUTED: RGBColor = RGBColor(0x5F, 0x5F, 0x5F);
pub const GRID: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);
pub const FRAME: RGBColor = RGBColor(0xB4, 0xB4, 0xB4);

/// Colour of class `i`. Past ten classes the palette repeats darkened, then lightened, so
/// datasets with more classes still render (with some loss of distinctness).
pub fn class_color(i: usize) -> RGBColor {
    let base = TABLEAU10[i % TABLEAU10.len()];
    match (i / TABLEAU10.len()) % 3 {
        0 => base,
        1 => mix(base, RGBColor(0, 0, 0), 0.35),
        _ => mix(base, RGBColor(255, 255, 255), 0.45),
    }
}

/// Colour of bar-chart series `i`.
pub fn series_color(i: usize) -> RGBColor {
    let base = OKABE_ITO[i % OKABE_ITO.len()];
    if (i / OKABE_ITO.len()) % 2 == 1 {
        mix(base, RGBColor(0, 0, 0), 0.35)
    } else {
        base
    }
}

/// Sequential colour for `t` in [0, 1] (clamped; NaN maps to the lightest colour).
pub fn sequential(t: f64) -> RGBColor {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let pos = t * (BLUES.len() - 1) as f64;
    let lo = (pos.floor() as usize).min(BLUES.len() - 2);
    mix(BLUES[lo], BLUES[lo + 1], pos - lo as f64)
}

/// Linear blend from `a` (at 0) to `b` (at 1) in sRGB space; fine for small palette tweaks.
pub fn mix(a: RGBColor, b: RGBColor, t: f64) -> RGBColor {
    let f = |x: u8, y: u8| {
        (x as f64 + (y as f64 - x as f64) * t)
            .round()
            .clamp(0.0, 255.0) as u8
    };
    RGBColor(f(a.0, b.0), f(a.1, b.1), f(a.2, b.2))
}

/// WCAG relative luminance in [0, 1].
pub fn luminance(c: RGBColor) -> f64 {
    let lin = |v: u8| {
        let v = v as f64 / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c.0) + 0.7152 * lin(c.1) + 0.0722 * lin(c.2)
}

/// Text colour readable on `background`: whichever of white and near-black has the higher
/// WCAG contrast ratio.
pub fn text_on(background: RGBColor) -> RGBColor {
    let l = luminance(background);
    let with_white = 1.05 / (l + 0.05);
    let with_ink = (l + 0.05) / (luminance(INK) + 0.05);
    if with_white > with_ink {
        RGBColor(255, 255, 255)
    } else {
        INK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_distinct_for_cifar10() {
        let colors: Vec<_> = (0..10).map(class_color).collect();
        for i in 0..10 {
            for j in i + 1..10 {
                assert_ne!(colors[i], colors[j]);
            }
        }
        assert_ne!(class_color(0), class_color(10));
    }

    #[test]
    fn sequential_ends_and_contrast() {
        assert_eq!(sequential(0.0), BLUES[0]);
        assert_eq!(sequential(1.0), BLUES[8]);
        assert_eq!(sequential(f64::NAN), BLUES[0]);
        assert_eq!(text_on(sequential(0.0)), INK);
        assert_eq!(text_on(sequential(1.0)), RGBColor(255, 255, 255));
    }
}
