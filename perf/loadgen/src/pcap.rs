//! A classic pcap writer for `--dump-pcap`: the frames the generator would
//! send, for tshark or Wireshark to check independently. Ten lines of
//! format do not justify a dependency.

use std::io::{self, Write};

/// Writes `frames` as a pcap (microsecond timestamps, LINKTYPE_ETHERNET),
/// one frame per microsecond from time 0.
///
/// # Errors
/// Any I/O error of `out`.
pub fn write<'a, W: Write>(
    mut out: W,
    frames: impl IntoIterator<Item = &'a [u8]>,
) -> io::Result<()> {
    out.write_all(&0xA1B2_C3D4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&0i32.to_le_bytes())?;
    out.write_all(&0u32.to_le_bytes())?;
    out.write_all(&65_535u32.to_le_bytes())?;
    out.write_all(&1u32.to_le_bytes())?;
    for (n, f) in frames.into_iter().enumerate() {
        let n = n as u64;
        let len =
            u32::try_from(f.len()).map_err(|_| io::Error::other("frame too long for pcap"))?;
        out.write_all(&((n / 1_000_000) as u32).to_le_bytes())?;
        out.write_all(&((n % 1_000_000) as u32).to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(f)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_and_records() {
        let mut buf = Vec::new();
        super::write(&mut buf, [&[1u8, 2, 3][..], &[4u8][..]]).unwrap();
        assert_eq!(buf.len(), 24 + 16 + 3 + 16 + 1);
        assert_eq!(&buf[0..4], &[0xD4, 0xC3, 0xB2, 0xA1]);
        assert_eq!(&buf[20..24], &[1, 0, 0, 0]);
        // Second record: ts 0 s 1 µs, caplen 1.
        assert_eq!(
            &buf[43..59],
            &[0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
        );
        assert_eq!(buf[59], 4);
    }
}
