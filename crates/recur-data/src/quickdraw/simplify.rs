//! Google's simplification of raw Quick, Draw! ink, as the dataset's simplified files were made:
//! align to the top-left, scale the larger side to 255, resample every stroke at 1-pixel spacing,
//! simplify with Ramer–Douglas–Peucker (ε = 2), round to integers.

use super::Stroke;

/// Most 1-pixel steps of ink a raw drawing may resample to: a scribble crossing the whole
/// frame hundreds of times. Beyond it, resampling and simplifying would run away with time and
/// memory (a 100k-point zigzag took minutes and half a gigabyte).
pub const MAX_INK: f32 = 100_000.0;

/// Simplifies raw strokes (finite, any float range) to the dataset's 0–255 integer form.
/// Refuses ink that spans too little to scale (the scale factor overflows) or that is too
/// long to resample (more than [`MAX_INK`] pixels once scaled).
pub fn simplify_raw(strokes: &[Stroke]) -> Result<Vec<Stroke>, String> {
    let ([x0, y0], scale) = frame(strokes);
    if !scale.is_finite() {
        return Err(format!(
            "the coordinates span only {:e}, too little to scale to the 0-255 frame",
            255.0 / scale
        ));
    }
    let scaled: Vec<Stroke> = strokes
        .iter()
        .map(|s| s.iter().map(|p| [(p[0] - x0) * scale, (p[1] - y0) * scale]).collect())
        .collect();
    let ink: f32 = scaled
        .iter()
        .flat_map(|s| s.windows(2))
        .map(|w| (w[1][0] - w[0][0]).hypot(w[1][1] - w[0][1]))
        .sum();
    if ink > MAX_INK {
        return Err(format!(
            "its ink is {ink:.0} pixels long in the 0-255 frame, more than the {MAX_INK} recur simplifies"
        ));
    }
    Ok(scaled
        .iter()
        .map(|s| {
            rdp(&resample(s, 1.0), 2.0)
                .into_iter()
                .map(|p| [p[0].round(), p[1].round()])
                .collect()
        })
        .collect())
}

/// Aligns strokes to the top-left and scales the larger side to 255, without resampling (for
/// ink that is already simplified in another frame, such as sketch-rnn's stroke-3 files).
pub fn fit_to_frame(strokes: &[Stroke]) -> Vec<Stroke> {
    let (origin, scale) = frame(strokes);
    strokes
        .iter()
        .map(|s| {
            s.iter()
                .map(|p| [(p[0] - origin[0]) * scale, (p[1] - origin[1]) * scale])
                .collect()
        })
        .collect()
}

/// The top-left corner and the factor that scales the larger side to 255.
fn frame(strokes: &[Stroke]) -> ([f32; 2], f32) {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::INFINITY, f32::INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY);
    for p in strokes.iter().flatten() {
        (x0, y0, x1, y1) = (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1]));
    }
    let extent = (x1 - x0).max(y1 - y0);
    ([x0, y0], if extent > 0.0 { 255.0 / extent } else { 1.0 })
}

/// Points along the polyline every `spacing` units of arc length (first and last kept).
pub fn resample(points: &[[f32; 2]], spacing: f32) -> Vec<[f32; 2]> {
    let Some(&first) = points.first() else {
        return Vec::new();
    };
    let mut out = vec![first];
    let mut prev = first;
    let mut carried = 0.0f32;
    for &p in &points[1..] {
        let (dx, dy) = (p[0] - prev[0], p[1] - prev[1]);
        let len = (dx * dx + dy * dy).sqrt();
        if len == 0.0 {
            continue;
        }
        let mut at = spacing - carried;
        while at <= len {
            let f = at / len;
            out.push([prev[0] + dx * f, prev[1] + dy * f]);
            at += spacing;
        }
        carried = len - (at - spacing);
        prev = p;
    }
    if out.last() != Some(&prev) {
        out.push(prev);
    }
    out
}

/// Ramer–Douglas–Peucker: the fewest points keeping the polyline within `epsilon`.
pub fn rdp(points: &[[f32; 2]], epsilon: f32) -> Vec<[f32; 2]> {
    if points.len() < 3 {
        return points.to_vec();
    }
    let mut keep = vec![false; points.len()];
    keep[0] = true;
    keep[points.len() - 1] = true;
    let mut stack = vec![(0, points.len() - 1)];
    while let Some((a, b)) = stack.pop() {
        let (mut worst, mut at) = (0.0f32, 0);
        for i in a + 1..b {
            let d = distance_to_segment(points[i], points[a], points[b]);
            if d > worst {
                (worst, at) = (d, i);
            }
        }
        if worst > epsilon {
            keep[at] = true;
            stack.push((a, at));
            stack.push((at, b));
        }
    }
    points.iter().zip(keep).filter(|(_, k)| *k).map(|(p, _)| *p).collect()
}

fn distance_to_segment(p: [f32; 2], a: [f32; 2], b: [f32; 2]) -> f32 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    if len2 == 0.0 {
        return ((p[0] - a[0]).powi(2) + (p[1] - a[1]).powi(2)).sqrt();
    }
    // Perpendicular distance to the line through a and b, as the reference implementation.
    ((p[0] - a[0]) * dy - (p[1] - a[1]) * dx).abs() / len2.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resample_spacing_and_rdp_straight_line() {
        let r = resample(&[[0.0, 0.0], [3.0, 4.0]], 1.0);
        assert_eq!(r.len(), 6);
        assert!((r[1][0] - 0.6).abs() < 1e-6 && (r[1][1] - 0.8).abs() < 1e-6);
        let line: Vec<[f32; 2]> = (0..50).map(|i| [i as f32, 2.0 * i as f32]).collect();
        assert_eq!(rdp(&line, 2.0), vec![[0.0, 0.0], [49.0, 98.0]]);
        let corner = vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]];
        assert_eq!(rdp(&corner, 2.0), corner);
    }

    #[test]
    fn simplified_fits_0_to_255() {
        let raw = vec![vec![[100.0, 50.0], [612.0, 50.0]], vec![[100.0, 50.0], [100.0, 306.0]]];
        let s = simplify_raw(&raw).unwrap();
        assert_eq!(s[0], vec![[0.0, 0.0], [255.0, 0.0]]);
        assert_eq!(s[1], vec![[0.0, 0.0], [0.0, 128.0]]);
    }

    /// A raw drawing spanning less than 1e-36 used to become NaN here and fail its whole file.
    #[test]
    fn simplify_raw_refuses_tiny_span_and_endless_ink() {
        let tiny = vec![vec![[0.0, 0.0], [5e-37, 1e-37]]];
        assert!(simplify_raw(&tiny).unwrap_err().contains("too little to scale"));
        let zigzag: Stroke = (0..2000).map(|i| [(i % 2) as f32 * 500.0, i as f32 * 1e-3]).collect();
        assert!(simplify_raw(&[zigzag]).unwrap_err().contains("more than the 100000"));
        let dot = vec![vec![[3.0, 3.0], [3.0, 3.0]]];
        assert_eq!(simplify_raw(&dot).unwrap(), vec![vec![[0.0, 0.0]]]);
    }
}
