//! Greedy label placement: each label in turn takes the cheapest of a fixed set of candidate
//! positions around its anchor, where cost grows with overlap of labels already placed, of
//! obstacles (markers), of crowded data, and with distance from the anchor. Not optimal, but
//! deterministic, fast, and good enough for a few dozen labels.

/// Axis-aligned rectangle in layout units (y grows downwards).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    pub fn around(cx: f64, cy: f64, half: f64) -> Rect {
        Rect {
            x0: cx - half,
            y0: cy - half,
            x1: cx + half,
            y1: cy + half,
        }
    }

    pub fn area(&self) -> f64 {
        (self.x1 - self.x0).max(0.0) * (self.y1 - self.y0).max(0.0)
    }

    pub fn overlap(&self, o: &Rect) -> f64 {
        let w = self.x1.min(o.x1) - self.x0.max(o.x0);
        let h = self.y1.min(o.y1) - self.y0.max(o.y0);
        if w > 0.0 && h > 0.0 {
            w * h
        } else {
            0.0
        }
    }

    pub fn contains(&self, o: &Rect) -> bool {
        o.x0 >= self.x0 && o.y0 >= self.y0 && o.x1 <= self.x1 && o.y1 <= self.y1
    }

    /// The point of this rectangle nearest to (x, y).
    pub fn nearest(&self, x: f64, y: f64) -> (f64, f64) {
        (x.clamp(self.x0, self.x1), y.clamp(self.y0, self.y1))
    }

    /// Shift (not shrink) into `bounds` as far as possible.
    fn clamp_into(&self, bounds: &Rect) -> Rect {
        let dx = if self.x0 < bounds.x0 {
            bounds.x0 - self.x0
        } else if self.x1 > bounds.x1 {
            (bounds.x1 - self.x1).max(bounds.x0 - self.x0)
        } else {
            0.0
        };
        let dy = if self.y0 < bounds.y0 {
            bounds.y0 - self.y0
        } else if self.y1 > bounds.y1 {
            (bounds.y1 - self.y1).max(bounds.y0 - self.y0)
        } else {
            0.0
        };
        Rect {
            x0: self.x0 + dx,
            y0: self.y0 + dy,
            x1: self.x1 + dx,
            y1: self.y1 + dy,
        }
    }
}

/// One label to place: its box size and the marker it belongs to.
pub(crate) struct LabelRequest {
    pub anchor: (f64, f64),
    /// Radius around the anchor the label must keep clear of (the marker's size).
    pub clearance: f64,
    pub size: (f64, f64),
}

/// Distances tried beyond the clearance, nearest first.
const GAPS: [f64; 6] = [4.0, 18.0, 40.0, 70.0, 110.0, 160.0];

/// Directions tried at each distance, preferred first: right, left, then diagonals, then
/// above and below. (dx, dy) in {-1, 0, 1}.
const DIRECTIONS: [(i8, i8); 8] = [
    (1, 0),
    (-1, 0),
    (1, -1),
    (1, 1),
    (-1, -1),
    (-1, 1),
    (0, -1),
    (0, 1),
];

/// Place every request inside `bounds`. `crowding(rect)` says how much data a candidate
/// would hide (any non-negative score, e.g. points covered).
pub(crate) fn place_labels(
    requests: &[LabelRequest],
    bounds: Rect,
    obstacles: &[Rect],
    crowding: &dyn Fn(&Rect) -> f64,
) -> Vec<Rect> {
    let mut placed: Vec<Rect> = Vec::with_capacity(requests.len());
    for req in requests {
        let mut best: Option<(f64, Rect)> = None;
        for (gi, &gap) in GAPS.iter().enumerate() {
            for (di, &dir) in DIRECTIONS.iter().enumerate() {
                let r = candidate(req, gap, dir);
                if !bounds.contains(&r) {
                    continue;
                }
                let area = r.area().max(1.0);
                let on_labels: f64 = placed.iter().map(|p| p.overlap(&r)).sum::<f64>() / area;
                let on_markers: f64 = obstacles.iter().map(|o| o.overlap(&r)).sum::<f64>() / area;
                let cost = 1000.0 * on_labels
                    + 200.0 * on_markers
                    + crowding(&r)
                    + 12.0 * gi as f64
                    + di as f64;
                if best.is_none_or(|(c, _)| cost < c) {
                    best = Some((cost, r));
                }
            }
        }
        // Nothing fits (label wider than the plot): keep it as close as possible, on canvas.
        let rect = best
            .map(|(_, r)| r)
            .unwrap_or_else(|| candidate(req, GAPS[0], DIRECTIONS[0]).clamp_into(&bounds));
        placed.push(rect);
    }
    placed
}

fn candidate(req: &LabelRequest, gap: f64, (dx, dy): (i8, i8)) -> Rect {
    let (ax, ay) = req.anchor;
    let (w, h) = req.size;
    // Diagonal offsets are shortened so corner candidates sit on a rough circle.
    let d = req.clearance + gap;
    let dd = if dx != 0 && dy != 0 { d * 0.75 } else { d };
    let x0 = match dx {
        1 => ax + dd,
        -1 => ax - dd - w,
        _ => ax - w / 2.0,
    };
    let y0 = match dy {
        1 => ay + dd,
        -1 => ay - dd - h,
        _ => ay - h / 2.0,
    };
    Rect {
        x0,
        y0,
        x1: x0 + w,
        y1: y0 + h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Rect {
        Rect {
            x0: 0.0,
            y0: 0.0,
            x1: 400.0,
            y1: 300.0,
        }
    }

    #[test]
    fn labels_stay_inside_and_apart() {
        // Three markers at the same spot near the right edge: the first label cannot go
        // right, and the later ones must not sit on it.
        let reqs: Vec<_> = (0..3)
            .map(|_| LabelRequest {
                anchor: (390.0, 150.0),
                clearance: 8.0,
                size: (120.0, 20.0),
            })
            .collect();
        let placed = place_labels(&reqs, bounds(), &[], &|_| 0.0);
        for (i, a) in placed.iter().enumerate() {
            assert!(bounds().contains(a), "{a:?}");
            for b in &placed[i + 1..] {
                assert_eq!(a.overlap(b), 0.0, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn oversized_label_is_clamped_not_lost() {
        let req = LabelRequest {
            anchor: (200.0, 150.0),
            clearance: 8.0,
            size: (1000.0, 20.0),
        };
        let placed = place_labels(&[req], bounds(), &[], &|_| 0.0);
        assert_eq!(placed[0].x0, 0.0);
        assert!(placed[0].y0 >= 0.0 && placed[0].y1 <= 300.0);
    }
}
