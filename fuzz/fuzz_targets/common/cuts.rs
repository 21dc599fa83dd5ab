//! Piece sizes for the stream readers' targets: a reader's events must not depend on
//! how its bytes were cut, so each target replays its input in pieces of these sizes.

/// Piece sizes from a small xorshift seeded by one input byte: mostly 1 byte or short,
/// sometimes up to `long` bytes.
pub struct Cuts {
    state: u32,
    long: usize,
}

impl Cuts {
    pub fn new(seed: u8, long: usize) -> Self {
        Cuts {
            state: u32::from(seed) << 8 | 0x9e37_0001,
            long,
        }
    }

    pub fn next(&mut self) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        match self.state % 8 {
            0 => (self.state >> 8) as usize % self.long,
            1..=3 => 1,
            _ => (self.state >> 8) as usize % 32,
        }
    }
}
