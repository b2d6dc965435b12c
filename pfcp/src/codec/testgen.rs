//! Random generation of canonical IE and message values for the round-trip
//! property tests. proptest supplies the seed (so failures are reproducible
//! and counted as proptest cases); this builds the value from it, because
//! proptest's tuple strategies stop at 12 fields and Create URR has more.

/// A small deterministic generator (xorshift64*), seeded by proptest.
pub(crate) struct G {
    state: u64,
    depth: u32,
}

impl G {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            state: seed | 1,
            depth: 0,
        }
    }
    pub(crate) fn u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(crate) fn u32(&mut self) -> u32 {
        (self.u64() >> 32) as u32
    }
    pub(crate) fn u16(&mut self) -> u16 {
        (self.u64() >> 48) as u16
    }
    pub(crate) fn u8(&mut self) -> u8 {
        (self.u64() >> 56) as u8
    }
    pub(crate) fn bool(&mut self) -> bool {
        self.u64() & (1 << 40) != 0
    }
    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.u64() % (hi - lo + 1) as u64) as usize
    }
    pub(crate) fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.bool() { Some(f(self)) } else { None }
    }
    /// 0..=3 items, fewer deeper in the tree so that values stay small.
    pub(crate) fn list<T>(&mut self, mut f: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let max = if self.depth > 2 { 1 } else { 3 };
        let n = self.range(0, max);
        self.depth += 1;
        let v = (0..n).map(|_| f(self)).collect();
        self.depth -= 1;
        v
    }
    /// Leaked random bytes: test values borrow like decoded ones do.
    pub(crate) fn bytes(&mut self, max: usize) -> &'static [u8] {
        let n = self.range(0, max);
        let v: Vec<u8> = (0..n).map(|_| self.u8()).collect();
        Box::leak(v.into_boxed_slice())
    }
    /// Leaked printable ASCII text.
    pub(crate) fn text(&mut self, min: usize, max: usize) -> &'static [u8] {
        let n = self.range(min, max);
        let v: Vec<u8> = (0..n).map(|_| b'a' + self.u8() % 26).collect();
        Box::leak(v.into_boxed_slice())
    }
}

/// A canonical random value: `decode(encode(x)) == x` must hold for it.
pub(crate) trait Gen {
    fn generate(g: &mut G) -> Self;
}

impl Gen for u8 {
    fn generate(g: &mut G) -> Self {
        g.u8()
    }
}
impl Gen for u16 {
    fn generate(g: &mut G) -> Self {
        g.u16()
    }
}
impl Gen for u32 {
    fn generate(g: &mut G) -> Self {
        g.u32()
    }
}
impl Gen for u64 {
    fn generate(g: &mut G) -> Self {
        g.u64()
    }
}
impl Gen for &[u8] {
    fn generate(g: &mut G) -> Self {
        g.bytes(12)
    }
}
