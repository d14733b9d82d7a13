//! A mergeable latency sketch: a histogram over log-spaced buckets of whole
//! milliseconds that answers p50/p95/p99 with a guaranteed relative error,
//! and that two parts of a population can be merged into exactly the sketch
//! of the whole. The analytics rollups (`docs/ROLLUPS.md`) keep one per
//! (organization, prompt, version, hour) and merge them into days and
//! windows.
//!
//! # Accuracy
//!
//! For any data and any `q`, [`LatencySketch::quantile`] returns a value
//! within **1 %** ([`RELATIVE_ACCURACY`]) of the exact nearest-rank quantile
//! (the `⌈q·n⌉`-th smallest recorded value): `|estimate − exact| ≤ 0.01 ×
//! exact`. Latencies under 50 ms, and 0 ms, are answered exactly. The bound
//! holds after any number of merges, because merging adds bucket counts and
//! loses nothing.
//!
//! # The buckets
//!
//! This is DDSketch's logarithmic mapping (relative accuracy α, bucket
//! growth γ = (1+α)/(1−α)) made exact for integers: with α = 1/100,
//! γ = 101/99, and bucket `k` holds the whole milliseconds `[L_k, H_k]`:
//!
//! ```text
//! L_0 = 0,   H_k = ⌊101 · L_k / 99⌋,   L_(k+1) = H_k + 1
//! ```
//!
//! so every bucket satisfies `H ≤ γ·L`, and its representative value
//! `2·L·H / (L+H)` is within `(H−L)/(H+L) ≤ α` of every value in it.
//! Buckets 0 to 49 hold one value each (0 ms to 49 ms); then each bucket is
//! about 2 % wider than the last: about 35 buckets per doubling, 499 up to
//! ten minutes, and [`BUCKET_COUNT`] (2,052) cover all of `u64`.
//!
//! The mapping is integer arithmetic only, so a bucket index means the same
//! thing on every platform (native and wasm32) and in every future version:
//! it is part of the stored format. Changing it means a new format version.
//!
//! # Stored form
//!
//! [`LatencySketch::encode`] writes JSON text for a SQLite `TEXT` column:
//!
//! ```text
//! {"v":1,"b":{"0":3,"57":12,"130":1}}
//! ```
//!
//! `v` is the format version (this mapping). `b` maps bucket indexes, as
//! canonical decimal strings, to counts; empty buckets are absent. Encoding
//! writes the keys in ascending index order. Decoding accepts any key order,
//! because SQLite's `json_set` appends new keys at the end, which is how the
//! gateway's rollup UPSERT increments one bucket in SQL:
//! `json_set(h, '$.b."57"', coalesce(json_extract(h, '$.b."57"'), 0) + 1)`.
//! [`LatencySketch::decode`] refuses anything else with an error and never
//! panics.

use std::fmt;

/// The guaranteed relative error of every quantile estimate.
pub const RELATIVE_ACCURACY: f64 = 0.01;

/// The stored format version written by [`LatencySketch::encode`].
pub const FORMAT_VERSION: u64 = 1;

/// γ = (1 + α) / (1 − α) = 101/99, as a fraction.
const GAMMA_NUM: u128 = 101;
const GAMMA_DEN: u128 = 99;

/// The last value of the bucket that starts at `lower`: the largest integer
/// `h` with `h ≤ γ · lower`, capped at `u64::MAX`.
const fn upper_of(lower: u64) -> u64 {
    let h = (lower as u128) * GAMMA_NUM / GAMMA_DEN;
    if h > u64::MAX as u128 {
        u64::MAX
    } else {
        h as u64
    }
}

const fn count_buckets() -> usize {
    let mut lower = 0u64;
    let mut n = 1;
    loop {
        let upper = upper_of(lower);
        if upper == u64::MAX {
            return n;
        }
        lower = upper + 1;
        n += 1;
    }
}

/// How many buckets there are; indexes run from 0 to `BUCKET_COUNT - 1`.
pub const BUCKET_COUNT: usize = count_buckets();

const fn build_lower_bounds() -> [u64; BUCKET_COUNT] {
    let mut bounds = [0u64; BUCKET_COUNT];
    let mut k = 1;
    while k < BUCKET_COUNT {
        bounds[k] = upper_of(bounds[k - 1]) + 1;
        k += 1;
    }
    bounds
}

/// `LOWER_BOUNDS[k]` is `L_k`, the first millisecond value of bucket `k`.
static LOWER_BOUNDS: [u64; BUCKET_COUNT] = build_lower_bounds();

/// The bucket that holds `ms`.
pub fn bucket_index(ms: u64) -> u32 {
    // LOWER_BOUNDS[0] is 0, so at least one bound is <= ms.
    let k = LOWER_BOUNDS.partition_point(|&lower| lower <= ms) - 1;
    k as u32
}

/// The first and last millisecond value (both inclusive) of bucket `index`,
/// or `None` when there is no such bucket.
pub fn bucket_bounds(index: u32) -> Option<(u64, u64)> {
    let lower = *LOWER_BOUNDS.get(index as usize)?;
    Some((lower, upper_of(lower)))
}

/// The value a quantile that falls in bucket `index` is reported as: the
/// point `2LH/(L+H)` whose relative distance to both ends is the same, so
/// to every value in the bucket it is at most `(H−L)/(H+L) ≤ α`.
fn representative(index: u32) -> f64 {
    let (lower, upper) = bucket_bounds(index).expect("a stored index is a bucket");
    if lower == upper {
        return lower as f64;
    }
    let (l, h) = (lower as f64, upper as f64);
    2.0 * l * h / (l + h)
}

/// The 1-based rank of the nearest-rank `q`-quantile of `n` values:
/// `max(1, ⌈q·n⌉)`. `None` when `n` is 0 or `q` is not in `[0, 1]`.
///
/// `q·n` within one part in 10¹² of an integer counts as that integer, so
/// that binary floating point does not move a rank: `0.07 × 100` is
/// `7.000000000000001` in `f64`, and its rank is 7. (Ranks are exact for
/// `n` up to 10¹²; `q = 1` is always `n`.)
pub fn nearest_rank(q: f64, n: u64) -> Option<u64> {
    if n == 0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    if q == 1.0 {
        return Some(n);
    }
    let x = q * n as f64;
    let rank = (x - x * 1e-12).ceil();
    // `as` saturates; the clamp keeps the rank within 1..=n.
    Some((rank as u64).clamp(1, n))
}

/// A mergeable histogram of millisecond latencies. See the module docs for
/// its accuracy and its stored form.
///
/// Counts are kept densely between the lowest and highest non-empty bucket,
/// so recording is O(1) amortized, and merging and quantiles are linear in
/// that span (at most [`BUCKET_COUNT`] buckets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencySketch {
    /// The index of `counts[0]`.
    offset: u32,
    /// Counts of buckets `offset..offset + counts.len()`. Empty, or its
    /// first and last entries are non-zero (counts only grow), which makes
    /// the representation canonical and the derived `PartialEq` exact.
    counts: Vec<u64>,
    /// The sum of `counts`.
    total: u64,
}

impl LatencySketch {
    /// An empty sketch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one latency of `ms` milliseconds.
    pub fn record(&mut self, ms: u64) {
        self.record_n(ms, 1);
    }

    /// Records `n` latencies of `ms` milliseconds each.
    pub fn record_n(&mut self, ms: u64, n: u64) {
        self.add_to_bucket(bucket_index(ms), n);
    }

    /// Adds `count` to bucket `index`, as stored rows of `(bucket, count)`
    /// are read back. An index past the last bucket, or a total that would
    /// overflow `u64`, is an error and leaves the sketch unchanged.
    pub fn add_bucket_count(&mut self, index: u32, count: u64) -> Result<(), SketchError> {
        if index as usize >= BUCKET_COUNT {
            return Err(SketchError(format!(
                "bucket {index} does not exist (the last is {})",
                BUCKET_COUNT - 1
            )));
        }
        if self.total.checked_add(count).is_none() {
            return Err(SketchError("the total count overflows".to_owned()));
        }
        self.add_to_bucket(index, count);
        Ok(())
    }

    /// Adds everything `other` recorded. `a.merge(&b)` equals the sketch
    /// of the values of `a` and `b` together, whatever the order.
    ///
    /// Counts saturate at `u64::MAX` rather than wrap (2^64 calls are not
    /// a concern in practice).
    pub fn merge(&mut self, other: &LatencySketch) {
        for (index, count) in other.buckets() {
            self.add_to_bucket(index, count);
        }
    }

    /// The number of recorded latencies.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The non-empty buckets as `(index, count)`, in ascending index order.
    pub fn buckets(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(i, count)| (self.offset + i as u32, *count))
    }

    /// The nearest-rank `q`-quantile in milliseconds (`q = 0.95` for p95),
    /// within [`RELATIVE_ACCURACY`] of the exact one. `None` when the sketch
    /// is empty or `q` is not in `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let rank = nearest_rank(q, self.total)?;
        let mut seen = 0u64;
        for (index, count) in self.buckets() {
            seen = seen.saturating_add(count);
            if seen >= rank {
                return Some(representative(index));
            }
        }
        // Unreachable: the counts add up to `total >= rank`.
        None
    }

    /// The stored form, `{"v":1,"b":{"<index>":<count>,...}}`, keys in
    /// ascending index order.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(16 + self.counts.len() * 9);
        out.push_str("{\"v\":");
        out.push_str(&FORMAT_VERSION.to_string());
        out.push_str(",\"b\":{");
        for (i, (index, count)) in self.buckets().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(&index.to_string());
            out.push_str("\":");
            out.push_str(&count.to_string());
        }
        out.push_str("}}");
        out
    }

    /// Reads the stored form back. Keys may come in any order. Anything but
    /// a JSON object with exactly `v` = 1 and `b`, an object of canonical
    /// decimal bucket indexes (each once, each an existing bucket) to
    /// non-negative integer counts adding up to at most `u64::MAX`, is an
    /// error.
    pub fn decode(text: &str) -> Result<LatencySketch, SketchError> {
        let stored = stored::parse(text).map_err(SketchError)?;
        if stored.v != FORMAT_VERSION {
            return Err(SketchError(format!(
                "unsupported sketch format version {} (this build reads {FORMAT_VERSION})",
                stored.v
            )));
        }
        let mut pairs = stored.b;
        // SQLite appends keys in first-seen order: sort, then fill one
        // dense vector (adding out of order would shift it again and again).
        if !pairs.is_sorted() {
            pairs.sort_unstable();
        }
        if let Some(twice) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(SketchError(format!("bucket {} appears twice", twice[0].0)));
        }
        if let Some(&(last, _)) = pairs.last().filter(|(i, _)| *i as usize >= BUCKET_COUNT) {
            return Err(SketchError(format!(
                "bucket {last} does not exist (the last is {})",
                BUCKET_COUNT - 1
            )));
        }
        pairs.retain(|&(_, count)| count > 0);
        let (Some(&(first, _)), Some(&(last, _))) = (pairs.first(), pairs.last()) else {
            return Ok(LatencySketch::new());
        };
        let mut sketch = LatencySketch {
            offset: first,
            counts: vec![0; (last - first) as usize + 1],
            total: 0,
        };
        for (index, count) in pairs {
            sketch.total = sketch
                .total
                .checked_add(count)
                .ok_or_else(|| SketchError("the total count overflows".to_owned()))?;
            sketch.counts[(index - first) as usize] = count;
        }
        Ok(sketch)
    }

    fn add_to_bucket(&mut self, index: u32, n: u64) {
        if n == 0 {
            return;
        }
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(0);
        } else if index < self.offset {
            let grow = (self.offset - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        } else if (index - self.offset) as usize >= self.counts.len() {
            self.counts.resize((index - self.offset) as usize + 1, 0);
        }
        let slot = &mut self.counts[(index - self.offset) as usize];
        *slot = slot.saturating_add(n);
        self.total = self.total.saturating_add(n);
    }
}

/// A stored sketch that could not be read, or a bucket that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SketchError(pub String);

impl fmt::Display for SketchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid latency sketch: {}", self.0)
    }
}

impl std::error::Error for SketchError {}

/// The stored form, as serde reads it.
/// The stored form's reader: a strict parser of exactly what `encode` and
/// SQLite's `json_set` write (any key order, JSON whitespace), by hand
/// because analytics decode tens of thousands of entries per query and a
/// generic JSON deserializer spends most of its time on what this format
/// never holds. Anything else is an error naming the byte offset.
mod stored {
    /// `v` and the `(index, count)` pairs of `b`, in the order read.
    pub(super) struct Sketch {
        pub v: u64,
        pub b: Vec<(u32, u64)>,
    }

    pub(super) fn parse(text: &str) -> Result<Sketch, String> {
        let mut p = Parser {
            bytes: text.as_bytes(),
            at: 0,
        };
        let (mut v, mut b) = (None, None);
        p.expect(b'{')?;
        if !p.eat(b'}') {
            loop {
                match p.string()? {
                    "v" if v.is_none() => {
                        p.expect(b':')?;
                        v = Some(p.unsigned()?);
                    }
                    "b" if b.is_none() => {
                        p.expect(b':')?;
                        b = Some(p.buckets()?);
                    }
                    other => return Err(p.error(&format!("unexpected key {other:?}"))),
                }
                if !p.eat(b',') {
                    p.expect(b'}')?;
                    break;
                }
            }
        }
        p.skip_whitespace();
        if p.at != p.bytes.len() {
            return Err(p.error("trailing characters"));
        }
        match (v, b) {
            (Some(v), Some(b)) => Ok(Sketch { v, b }),
            _ => Err("a sketch needs both `v` and `b`".to_owned()),
        }
    }

    struct Parser<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    impl<'a> Parser<'a> {
        fn error(&self, what: &str) -> String {
            format!("{what} at byte {}", self.at)
        }

        fn skip_whitespace(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
                self.at += 1;
            }
        }

        /// Skips whitespace, then consumes `byte` if it is next.
        fn eat(&mut self, byte: u8) -> bool {
            self.skip_whitespace();
            let next = self.bytes.get(self.at) == Some(&byte);
            if next {
                self.at += 1;
            }
            next
        }

        fn expect(&mut self, byte: u8) -> Result<(), String> {
            if self.eat(byte) {
                Ok(())
            } else {
                Err(self.error(&format!("expected `{}`", byte as char)))
            }
        }

        /// A string without escapes (the format has none).
        fn string(&mut self) -> Result<&'a str, String> {
            self.expect(b'"')?;
            let start = self.at;
            let len = self.bytes[start..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\')
                .ok_or_else(|| self.error("unterminated string"))?;
            self.at = start + len;
            if self.bytes[self.at] == b'\\' {
                return Err(self.error("escapes are not part of the format"));
            }
            self.at += 1;
            // The text is a &str and the slice ends before an ASCII quote,
            // so it is valid UTF-8.
            std::str::from_utf8(&self.bytes[start..start + len])
                .map_err(|_| self.error("invalid UTF-8"))
        }

        /// A JSON number that is a whole `u64`: digits, no sign, no leading
        /// zero, no fraction or exponent.
        fn unsigned(&mut self) -> Result<u64, String> {
            self.skip_whitespace();
            let start = self.at;
            while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
                self.at += 1;
            }
            let digits = &self.bytes[start..self.at];
            if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
                return Err(self.error("expected a whole number"));
            }
            if let Some(b'.' | b'e' | b'E') = self.bytes.get(self.at) {
                return Err(self.error("expected a whole number"));
            }
            digits
                .iter()
                .try_fold(0u64, |n, d| {
                    n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                })
                .ok_or_else(|| self.error("the number does not fit in 64 bits"))
        }

        /// `{"<index>": <count>, ...}`.
        fn buckets(&mut self) -> Result<Vec<(u32, u64)>, String> {
            let mut pairs = Vec::new();
            self.expect(b'{')?;
            if self.eat(b'}') {
                return Ok(pairs);
            }
            loop {
                let key = self.string()?;
                let index = parse_index(key).ok_or_else(|| {
                    self.error(&format!("bucket key {key:?} is not a canonical index"))
                })?;
                self.expect(b':')?;
                pairs.push((index, self.unsigned()?));
                if !self.eat(b',') {
                    self.expect(b'}')?;
                    return Ok(pairs);
                }
            }
        }
    }

    /// A canonical decimal `u32`: digits only, no leading zero (but `0`).
    fn parse_index(key: &str) -> Option<u32> {
        let digits = key.as_bytes();
        if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
            return None;
        }
        digits.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit()
                .then(|| n.checked_mul(10)?.checked_add(u32::from(d - b'0')))
                .flatten()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The exact nearest-rank quantile of `values`.
    fn exact(values: &[u64], q: f64) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        let rank = nearest_rank(q, sorted.len() as u64).unwrap();
        sorted[rank as usize - 1] as f64
    }

    fn sketch_of(values: &[u64]) -> LatencySketch {
        let mut sketch = LatencySketch::new();
        for &v in values {
            sketch.record(v);
        }
        sketch
    }

    const QUANTILES: [f64; 9] = [0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0];

    /// Asserts the documented bound for every quantile in `QUANTILES`.
    fn assert_within_bound(values: &[u64]) {
        let sketch = sketch_of(values);
        assert_eq!(sketch.count(), values.len() as u64);
        for q in QUANTILES {
            let want = exact(values, q);
            let got = sketch.quantile(q).unwrap();
            let error = (got - want).abs();
            assert!(
                error <= RELATIVE_ACCURACY * want + 1e-9 * want.max(1.0),
                "q={q}: got {got}, exact {want} (n={})",
                values.len()
            );
        }
    }

    /// xorshift64*: deterministic data without a rand dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// Uniform in [0, 1).
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }

        /// Standard normal (Box-Muller).
        fn normal(&mut self) -> f64 {
            let u1 = self.unit().max(f64::MIN_POSITIVE);
            let u2 = self.unit();
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        }
    }

    #[test]
    fn the_bucket_layout_is_the_documented_one() {
        assert_eq!(BUCKET_COUNT, 2052);
        // One value per bucket below 50 ms.
        for ms in 0..50 {
            assert_eq!(bucket_index(ms), ms as u32);
            assert_eq!(bucket_bounds(ms as u32), Some((ms, ms)));
        }
        assert_eq!(bucket_bounds(50), Some((50, 51)));
        assert_eq!(bucket_index(51), 50);
        assert_eq!(bucket_index(52), 51);
        // 499 buckets up to ten minutes, 34 per doubling around a second.
        assert_eq!(bucket_index(600_000), 498);
        assert_eq!(bucket_index(2_000) - bucket_index(1_000), 34);
        assert_eq!(bucket_index(u64::MAX), BUCKET_COUNT as u32 - 1);
        assert_eq!(bucket_bounds(BUCKET_COUNT as u32 - 1).unwrap().1, u64::MAX);
        assert_eq!(bucket_bounds(BUCKET_COUNT as u32), None);
        // The buckets tile u64 and each is within the bound.
        let mut next = 0u64;
        for k in 0..BUCKET_COUNT as u32 {
            let (lower, upper) = bucket_bounds(k).unwrap();
            assert_eq!(lower, next);
            assert!(upper >= lower);
            assert!((upper as u128) * 99 <= (lower as u128) * 101);
            assert_eq!(bucket_index(lower), k);
            assert_eq!(bucket_index(upper), k);
            let r = representative(k);
            assert!(r >= lower as f64 && r <= upper as f64);
            if lower > 0 {
                assert!((r - lower as f64) / lower as f64 <= RELATIVE_ACCURACY + 1e-12);
                assert!((upper as f64 - r) / upper as f64 <= RELATIVE_ACCURACY + 1e-12);
            }
            next = upper.wrapping_add(1);
        }
        assert_eq!(next, 0, "the last bucket ends at u64::MAX");
    }

    #[test]
    fn nearest_rank_is_the_textbook_one() {
        assert_eq!(nearest_rank(0.5, 0), None);
        assert_eq!(nearest_rank(-0.1, 10), None);
        assert_eq!(nearest_rank(1.1, 10), None);
        assert_eq!(nearest_rank(f64::NAN, 10), None);
        assert_eq!(nearest_rank(0.0, 10), Some(1));
        assert_eq!(nearest_rank(1.0, 10), Some(10));
        assert_eq!(nearest_rank(0.5, 1), Some(1));
        assert_eq!(nearest_rank(0.5, 2), Some(1));
        assert_eq!(nearest_rank(0.51, 2), Some(2));
        assert_eq!(nearest_rank(0.99, 2), Some(2));
        assert_eq!(nearest_rank(0.95, 100), Some(95));
        assert_eq!(nearest_rank(0.07, 100), Some(7));
        assert_eq!(nearest_rank(0.99, 1000), Some(990));
        assert_eq!(nearest_rank(0.999, 1000), Some(999));
        assert_eq!(nearest_rank(0.5, 1 << 40), Some(1 << 39));
        assert_eq!(nearest_rank(1.0, u64::MAX), Some(u64::MAX));
    }

    #[test]
    fn an_empty_sketch_has_no_quantiles() {
        let sketch = LatencySketch::new();
        assert!(sketch.is_empty());
        assert_eq!(sketch.count(), 0);
        assert_eq!(sketch.quantile(0.5), None);
        assert_eq!(sketch.encode(), r#"{"v":1,"b":{}}"#);
    }

    #[test]
    fn quantiles_outside_zero_to_one_are_none() {
        let sketch = sketch_of(&[10, 20]);
        assert_eq!(sketch.quantile(-0.01), None);
        assert_eq!(sketch.quantile(1.01), None);
        assert_eq!(sketch.quantile(f64::NAN), None);
    }

    #[test]
    fn tiny_samples() {
        // n = 1: every quantile is the one value, within the bound.
        for v in [0, 1, 49, 50, 999, 1234, 600_000] {
            assert_within_bound(&[v]);
        }
        // n = 2: p50 is the smaller value, p95/p99 the larger.
        let sketch = sketch_of(&[100, 9_000]);
        let p50 = sketch.quantile(0.5).unwrap();
        let p95 = sketch.quantile(0.95).unwrap();
        assert!((p50 - 100.0).abs() <= 1.0, "{p50}");
        assert!((p95 - 9_000.0).abs() <= 90.0, "{p95}");
        assert_within_bound(&[100, 9_000]);
        assert_within_bound(&[7, 7]);
    }

    #[test]
    fn small_latencies_are_exact() {
        let values: Vec<u64> = (0..50).chain(0..20).collect();
        let sketch = sketch_of(&values);
        for q in QUANTILES {
            assert_eq!(sketch.quantile(q).unwrap(), exact(&values, q));
        }
    }

    #[test]
    fn constant_data() {
        for v in [0, 3, 250, 1_999, 30_000] {
            let values = vec![v; 1_000];
            assert_within_bound(&values);
            let sketch = sketch_of(&values);
            assert_eq!(sketch.buckets().count(), 1);
        }
    }

    #[test]
    fn uniform_data() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for n in [10, 1_000, 20_000] {
            let values: Vec<u64> = (0..n).map(|_| rng.next() % 600_001).collect();
            assert_within_bound(&values);
        }
    }

    #[test]
    fn log_normal_data() {
        // Median about 1.1 s, a long tail, like LLM calls.
        let mut rng = Rng(42);
        for sigma in [0.3, 1.0, 2.0] {
            let values: Vec<u64> = (0..20_000)
                .map(|_| (7.0 + sigma * rng.normal()).exp().min(600_000.0) as u64)
                .collect();
            assert_within_bound(&values);
        }
    }

    #[test]
    fn bimodal_data() {
        // Cache hits around 40 ms, provider calls around 4 s, a few timeouts.
        let mut rng = Rng(7);
        let values: Vec<u64> = (0..10_000)
            .map(|i| match i % 100 {
                0 => 30_000,
                1..=59 => 35 + rng.next() % 10,
                _ => (4_000.0 * (0.25 * rng.normal()).exp()) as u64,
            })
            .collect();
        assert_within_bound(&values);
        let sketch = sketch_of(&values);
        // p50 sits in the fast mode and is exact there; p99 is the timeouts' neighbourhood.
        assert_eq!(sketch.quantile(0.5), Some(exact(&values, 0.5)));
        assert!(sketch.quantile(0.99).unwrap() > 4_000.0);
    }

    #[test]
    fn merging_parts_equals_the_sketch_of_the_whole() {
        let mut rng = Rng(11);
        let values: Vec<u64> = (0..5_000)
            .map(|_| (6.0 + 1.5 * rng.normal()).exp() as u64)
            .collect();
        let whole = sketch_of(&values);
        // Uneven parts, merged in a scrambled order, into an empty sketch.
        let cuts = [0, 1, 17, 400, 2_500, 4_999, 5_000];
        let mut parts: Vec<LatencySketch> = cuts
            .windows(2)
            .map(|w| sketch_of(&values[w[0]..w[1]]))
            .collect();
        parts.reverse();
        parts.swap(0, 3);
        let mut merged = LatencySketch::new();
        for part in &parts {
            merged.merge(part);
        }
        assert_eq!(merged, whole);
        for q in QUANTILES {
            assert_eq!(merged.quantile(q), whole.quantile(q));
        }
        // Merging an empty sketch changes nothing, either way round.
        let mut copy = whole.clone();
        copy.merge(&LatencySketch::new());
        assert_eq!(copy, whole);
        let mut empty = LatencySketch::new();
        empty.merge(&whole);
        assert_eq!(empty, whole);
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut rng = Rng(5);
        let values: Vec<u64> = (0..3_000).map(|_| rng.next() % 100_000).collect();
        let sketch = sketch_of(&values);
        let text = sketch.encode();
        assert_eq!(LatencySketch::decode(&text), Ok(sketch.clone()));
        assert_eq!(LatencySketch::decode(&text).unwrap().encode(), text);

        let small = sketch_of(&[0, 0, 0, 57, 57, 130]);
        assert_eq!(small.encode(), r#"{"v":1,"b":{"0":3,"53":2,"85":1}}"#);
        let empty = LatencySketch::new();
        assert_eq!(LatencySketch::decode(&empty.encode()), Ok(empty));
    }

    #[test]
    fn decode_accepts_what_sqlite_json_set_writes() {
        // Keys appended out of order, whitespace, a zero count (ignored),
        // top-level keys in either order.
        let text = r#" { "b" : { "85":1, "0":3 ,"53":2, "9":0 }, "v":1 } "#;
        assert_eq!(
            LatencySketch::decode(text),
            Ok(sketch_of(&[0, 0, 0, 57, 57, 130]))
        );
    }

    #[test]
    fn decode_refuses_anything_else() {
        let max = BUCKET_COUNT - 1;
        let refused = [
            "",
            "null",
            "[]",
            "{}",
            r#"{"v":1}"#,
            r#"{"b":{}}"#,
            r#"{"v":2,"b":{}}"#,
            r#"{"v":"1","b":{}}"#,
            r#"{"v":1.0,"b":{}}"#,
            r#"{"v":1,"b":[]}"#,
            r#"{"v":1,"b":{},"x":0}"#,
            r#"{"v":1,"v":1,"b":{}}"#,
            r#"{"v":1,"b":{"1":1,"1":2}}"#,
            r#"{"v":1,"b":{"01":1}}"#,
            r#"{"v":1,"b":{"+1":1}}"#,
            r#"{"v":1,"b":{"-1":1}}"#,
            r#"{"v":1,"b":{" 1":1}}"#,
            r#"{"v":1,"b":{"":1}}"#,
            r#"{"v":1,"b":{"x":1}}"#,
            r#"{"v":1,"b":{"1":-1}}"#,
            r#"{"v":1,"b":{"1":1.5}}"#,
            r#"{"v":1,"b":{"1":1e3}}"#,
            r#"{"v":1,"b":{"1":"2"}}"#,
            r#"{"v":1,"b":{"1":18446744073709551616}}"#,
            r#"{"v":1,"b":{"1":18446744073709551615,"2":1}}"#,
            r#"{"v":1,"b":{"99999999999":1}}"#,
            r#"{"v":1,"b":{}} trailing"#,
            r#"{"v":1,"b":{"1":1}"#,
        ];
        for text in refused {
            assert!(LatencySketch::decode(text).is_err(), "accepted {text:?}");
        }
        for count in [0, 1] {
            let past_the_end = format!(r#"{{"v":1,"b":{{"{}":{count}}}}}"#, max + 1);
            assert!(LatencySketch::decode(&past_the_end).is_err());
        }
        let last = format!(r#"{{"v":1,"b":{{"{max}":1}}}}"#);
        assert!(LatencySketch::decode(&last).is_ok());
        // Deep nesting is an error, not a stack overflow.
        let deep = format!(
            r#"{{"v":1,"b":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(LatencySketch::decode(&deep).is_err());
    }

    #[test]
    fn add_bucket_count_checks_its_input() {
        let mut sketch = LatencySketch::new();
        assert!(sketch.add_bucket_count(BUCKET_COUNT as u32, 1).is_err());
        sketch.add_bucket_count(57, u64::MAX).unwrap();
        assert!(sketch.add_bucket_count(3, 1).is_err());
        assert_eq!(sketch.count(), u64::MAX);
        assert_eq!(sketch.buckets().collect::<Vec<_>>(), vec![(57, u64::MAX)]);
    }

    #[test]
    fn record_n_equals_n_records() {
        let mut a = LatencySketch::new();
        a.record_n(1_500, 3);
        a.record_n(2, 0);
        let b = sketch_of(&[1_500, 1_500, 1_500]);
        assert_eq!(a, b);
    }

    proptest! {
        #[test]
        fn decode_never_panics_on_arbitrary_text(text in ".*") {
            let _ = LatencySketch::decode(&text);
        }

        #[test]
        fn decode_never_panics_on_json_like_text(
            text in r#"\{("[vb]":|"[0-9]{0,4}":|[0-9]{1,21}|[{}\[\],.:-]|"-?[0-9e.]*"| ){0,24}\}?"#,
        ) {
            let _ = LatencySketch::decode(&text);
        }

        #[test]
        fn decoding_an_edited_encoding_never_panics(
            values in proptest::collection::vec(0u64..1_000_000, 0..50),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut bytes = sketch_of(&values).encode().into_bytes();
            let i = at.index(bytes.len());
            bytes[i] = byte;
            if let Ok(text) = String::from_utf8(bytes) {
                let _ = LatencySketch::decode(&text);
            }
        }

        #[test]
        fn any_data_is_within_the_bound_and_round_trips(
            values in proptest::collection::vec(
                prop_oneof![0u64..100, 0u64..1_000_000, any::<u64>()], 1..300),
            q in 0.0f64..=1.0,
        ) {
            let sketch = sketch_of(&values);
            let want = exact(&values, q);
            let got = sketch.quantile(q).unwrap();
            prop_assert!((got - want).abs() <= RELATIVE_ACCURACY * want + 1e-9 * want.max(1.0),
                "q={} got {} exact {}", q, got, want);
            prop_assert_eq!(LatencySketch::decode(&sketch.encode()), Ok(sketch));
        }

        #[test]
        fn merge_is_exact_for_any_split(
            values in proptest::collection::vec(0u64..10_000_000, 0..300),
            split in any::<prop::sample::Index>(),
        ) {
            let at = if values.is_empty() { 0 } else { split.index(values.len() + 1) };
            let mut left = sketch_of(&values[..at]);
            let right = sketch_of(&values[at..]);
            left.merge(&right);
            prop_assert_eq!(left, sketch_of(&values));
        }
    }
}
