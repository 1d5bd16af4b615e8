//! A small ELF reader for the analyzers of executables: section contents by name
//! (through the section header string table), writable load segments, and reads
//! at virtual addresses. ELF32 and ELF64, little and big endian. Every offset is
//! checked: a truncated or hostile file gives an [`ElfError`], never a panic.

/// The four bytes every ELF file starts with.
pub const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// More section or program headers than this is not a real executable.
const MAX_HEADERS: usize = 1 << 16;

/// Section names longer than this are cut (real ones are short).
const MAX_NAME: usize = 256;

const SHT_NOBITS: u32 = 8;
const PT_LOAD: u32 = 1;
const PF_W: u32 = 2;
/// `e_shstrndx` value meaning "the index is in section 0's `sh_link`".
const SHN_XINDEX: u32 = 0xffff;

/// Why bytes could not be read as ELF.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// The bytes do not start with `\x7fELF`.
    #[error("not an ELF file")]
    NotElf,
    /// `EI_CLASS` is neither ELF32 nor ELF64.
    #[error("unknown ELF class {0}")]
    BadClass(u8),
    /// `EI_DATA` is neither little nor big endian.
    #[error("unknown ELF data encoding {0}")]
    BadEncoding(u8),
    /// A header or table lies (partly) outside the bytes.
    #[error("{what} at offset {offset} is outside the {len} bytes read")]
    OutOfBounds {
        /// Which structure.
        what: &'static str,
        /// Where it should be.
        offset: u64,
        /// How many bytes there are.
        len: usize,
    },
    /// A header entry size smaller than the structure it holds.
    #[error("{what} entries of {size} bytes are too small")]
    BadEntrySize {
        /// Which table.
        what: &'static str,
        /// The declared entry size.
        size: u64,
    },
    /// More headers than [`MAX_HEADERS`].
    #[error("{count} {what} is more than a real executable has")]
    TooMany {
        /// Which headers.
        what: &'static str,
        /// How many were declared.
        count: u64,
    },
    /// The file has no section headers (stripped of them, or cut short).
    #[error("no section headers")]
    NoSections,
}

/// One section header, as far as the analyzers need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Name from the section header string table (empty when unreadable).
    pub name: String,
    /// `sh_type`.
    pub ty: u32,
    /// `sh_addr`: where the section is loaded.
    pub addr: u64,
    /// `sh_offset`: where its bytes are in the file.
    pub offset: u64,
    /// `sh_size`.
    pub size: u64,
}

/// One program header (segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// `p_type`.
    pub ty: u32,
    /// `p_flags` (`PF_X` 1, `PF_W` 2, `PF_R` 4).
    pub flags: u32,
    /// `p_offset`.
    pub offset: u64,
    /// `p_vaddr`.
    pub vaddr: u64,
    /// `p_filesz`: bytes present in the file.
    pub filesz: u64,
}

/// A parsed ELF file borrowing its bytes.
#[derive(Debug, Clone)]
pub struct Elf<'a> {
    bytes: &'a [u8],
    /// ELF64 (else ELF32).
    pub is_64: bool,
    /// Big endian (else little).
    pub big_endian: bool,
    /// Section headers (empty when the file has none or they lie past its end).
    pub sections: Vec<Section>,
    /// Program headers (empty when unreadable).
    pub segments: Vec<Segment>,
}

/// Bounded integer reads in the file's byte order.
#[derive(Debug, Clone, Copy)]
struct Reader<'a> {
    b: &'a [u8],
    be: bool,
}

impl Reader<'_> {
    fn bytes<const N: usize>(&self, off: u64, what: &'static str) -> Result<[u8; N], ElfError> {
        let oob = || ElfError::OutOfBounds {
            what,
            offset: off,
            len: self.b.len(),
        };
        let start = usize::try_from(off).map_err(|_| oob())?;
        let end = start.checked_add(N).ok_or_else(oob)?;
        let s = self.b.get(start..end).ok_or_else(oob)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u16(&self, off: u64, what: &'static str) -> Result<u16, ElfError> {
        let a = self.bytes::<2>(off, what)?;
        Ok(if self.be {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    }
    fn u32(&self, off: u64, what: &'static str) -> Result<u32, ElfError> {
        let a = self.bytes::<4>(off, what)?;
        Ok(if self.be {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }
    fn u64(&self, off: u64, what: &'static str) -> Result<u64, ElfError> {
        let a = self.bytes::<8>(off, what)?;
        Ok(if self.be {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        })
    }
    /// An address-sized word: 8 bytes in ELF64, 4 in ELF32.
    fn word(&self, off: u64, is_64: bool, what: &'static str) -> Result<u64, ElfError> {
        if is_64 {
            self.u64(off, what)
        } else {
            self.u32(off, what).map(u64::from)
        }
    }
}

/// `base + index * size`, or an error when it overflows.
fn entry_offset(base: u64, index: u64, size: u64, what: &'static str) -> Result<u64, ElfError> {
    index
        .checked_mul(size)
        .and_then(|o| o.checked_add(base))
        .ok_or(ElfError::OutOfBounds {
            what,
            offset: base,
            len: 0,
        })
}

impl<'a> Elf<'a> {
    /// Parse the ELF header, program headers and section headers. Section or
    /// program headers that lie past the end of `bytes` (a file cut short) leave
    /// that list empty rather than failing, so a prefix of a binary still gives
    /// its segments.
    pub fn parse(bytes: &'a [u8]) -> Result<Elf<'a>, ElfError> {
        if !bytes.starts_with(ELF_MAGIC) {
            return Err(ElfError::NotElf);
        }
        let class = *bytes.get(4).ok_or(ElfError::NotElf)?;
        let data = *bytes.get(5).ok_or(ElfError::NotElf)?;
        let is_64 = match class {
            1 => false,
            2 => true,
            c => return Err(ElfError::BadClass(c)),
        };
        let big_endian = match data {
            1 => false,
            2 => true,
            d => return Err(ElfError::BadEncoding(d)),
        };
        let r = Reader {
            b: bytes,
            be: big_endian,
        };
        let h = "ELF header";
        let (phoff, shoff, rest) = if is_64 {
            (r.u64(32, h)?, r.u64(40, h)?, 52)
        } else {
            (u64::from(r.u32(28, h)?), u64::from(r.u32(32, h)?), 40)
        };
        let phentsize = u64::from(r.u16(rest + 2, h)?);
        let phnum = u64::from(r.u16(rest + 4, h)?);
        let shentsize = u64::from(r.u16(rest + 6, h)?);
        let shnum = u64::from(r.u16(rest + 8, h)?);
        let shstrndx = u32::from(r.u16(rest + 10, h)?);
        let mut elf = Elf {
            bytes,
            is_64,
            big_endian,
            sections: Vec::new(),
            segments: Vec::new(),
        };
        // Program headers first: they survive `strip --strip-section-headers`
        // and sit at the start of the file, so a cut-short read still has them.
        if phoff != 0 && phnum != 0 {
            match elf.read_segments(r, phoff, phnum, phentsize) {
                Ok(s) => elf.segments = s,
                Err(ElfError::OutOfBounds { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if shoff != 0 {
            match elf.read_sections(r, shoff, shnum, shentsize, shstrndx) {
                Ok(s) => elf.sections = s,
                Err(ElfError::OutOfBounds { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(elf)
    }

    fn read_segments(
        &self,
        r: Reader<'_>,
        phoff: u64,
        phnum: u64,
        entsize: u64,
    ) -> Result<Vec<Segment>, ElfError> {
        let what = "program header";
        let need = if self.is_64 { 56 } else { 32 };
        if entsize < need {
            return Err(ElfError::BadEntrySize {
                what,
                size: entsize,
            });
        }
        // 0xffff (PN_XNUM) means "more, in section 0"; executables never need that.
        let mut out = Vec::new();
        for i in 0..phnum {
            let o = entry_offset(phoff, i, entsize, what)?;
            let ty = r.u32(o, what)?;
            let seg = if self.is_64 {
                Segment {
                    ty,
                    flags: r.u32(o + 4, what)?,
                    offset: r.u64(o + 8, what)?,
                    vaddr: r.u64(o + 16, what)?,
                    filesz: r.u64(o + 32, what)?,
                }
            } else {
                Segment {
                    ty,
                    offset: u64::from(r.u32(o + 4, what)?),
                    vaddr: u64::from(r.u32(o + 8, what)?),
                    filesz: u64::from(r.u32(o + 16, what)?),
                    flags: r.u32(o + 24, what)?,
                }
            };
            out.push(seg);
        }
        Ok(out)
    }

    fn read_sections(
        &self,
        r: Reader<'_>,
        shoff: u64,
        shnum: u64,
        entsize: u64,
        shstrndx: u32,
    ) -> Result<Vec<Section>, ElfError> {
        let what = "section header";
        let need = if self.is_64 { 64 } else { 40 };
        if entsize < need {
            return Err(ElfError::BadEntrySize {
                what,
                size: entsize,
            });
        }
        // Extended numbering: with 0 sections declared, the count is section 0's
        // sh_size, and with SHN_XINDEX the string table index is its sh_link.
        let (size_at, link_at) = if self.is_64 { (32, 40) } else { (20, 24) };
        let count = if shnum == 0 {
            r.word(shoff + size_at, self.is_64, what)?
        } else {
            shnum
        };
        if count > MAX_HEADERS as u64 {
            return Err(ElfError::TooMany {
                what: "section headers",
                count,
            });
        }
        let strndx = if shstrndx == SHN_XINDEX {
            u64::from(r.u32(shoff + link_at, what)?)
        } else {
            u64::from(shstrndx)
        };
        let mut raw = Vec::new();
        for i in 0..count {
            let o = entry_offset(shoff, i, entsize, what)?;
            let name = r.u32(o, what)?;
            let ty = r.u32(o + 4, what)?;
            let (addr, offset, size) = if self.is_64 {
                (
                    r.u64(o + 16, what)?,
                    r.u64(o + 24, what)?,
                    r.u64(o + 32, what)?,
                )
            } else {
                (
                    u64::from(r.u32(o + 12, what)?),
                    u64::from(r.u32(o + 16, what)?),
                    u64::from(r.u32(o + 20, what)?),
                )
            };
            raw.push((name, ty, addr, offset, size));
        }
        let strtab = usize::try_from(strndx)
            .ok()
            .and_then(|i| raw.get(i))
            .and_then(|&(_, ty, _, off, size)| {
                if ty == SHT_NOBITS {
                    None
                } else {
                    self.file_range(off, size)
                }
            })
            .unwrap_or(&[]);
        Ok(raw
            .into_iter()
            .map(|(name, ty, addr, offset, size)| Section {
                name: c_string(strtab, name),
                ty,
                addr,
                offset,
                size,
            })
            .collect())
    }

    /// `len` bytes of the file from `offset`, when all of them are there.
    pub fn file_range(&self, offset: u64, len: u64) -> Option<&'a [u8]> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.bytes.get(start..end)
    }

    /// The bytes of the first section called `name` (`None` when there is no such
    /// section, it occupies no file space, or its bytes lie past the end).
    pub fn section(&self, name: &str) -> Option<&'a [u8]> {
        let s = self.sections.iter().find(|s| s.name == name)?;
        if s.ty == SHT_NOBITS {
            return None;
        }
        self.file_range(s.offset, s.size)
    }

    /// Writable `PT_LOAD` segments, as (virtual address, the bytes of them that
    /// are in the file, clipped to what was read).
    pub fn writable_load_segments(&self) -> impl Iterator<Item = (u64, &'a [u8])> + '_ {
        self.segments
            .iter()
            .filter(|s| s.ty == PT_LOAD && s.flags & PF_W != 0)
            .filter_map(|s| {
                let start = usize::try_from(s.offset).ok()?;
                let len = usize::try_from(s.filesz).ok()?;
                let end = start.checked_add(len)?.min(self.bytes.len());
                Some((s.vaddr, self.bytes.get(start..end)?))
            })
    }

    /// `len` bytes at virtual address `addr`, from the `PT_LOAD` segment holding
    /// them (`None` when no segment has all of them in the file).
    pub fn read_virtual(&self, addr: u64, len: u64) -> Option<&'a [u8]> {
        self.segments
            .iter()
            .filter(|s| s.ty == PT_LOAD)
            .find_map(|s| {
                let rel = addr.checked_sub(s.vaddr)?;
                if rel.checked_add(len)? > s.filesz {
                    return None;
                }
                self.file_range(s.offset.checked_add(rel)?, len)
            })
    }
}

/// The NUL-terminated string at `off` in a string table ("" when out of range).
fn c_string(table: &[u8], off: u32) -> String {
    let Some(rest) = usize::try_from(off).ok().and_then(|o| table.get(o..)) else {
        return String::new();
    };
    let end = rest
        .iter()
        .take(MAX_NAME)
        .position(|&b| b == 0)
        .unwrap_or(rest.len().min(MAX_NAME));
    String::from_utf8_lossy(rest.get(..end).unwrap_or_default()).into_owned()
}

/// The contents of the sections called `names` that `bytes` has, as (name,
/// bytes), in section header order. Sections without file bytes are left out.
pub fn sections(bytes: &[u8], names: &[&str]) -> Result<Vec<(String, Vec<u8>)>, ElfError> {
    let elf = Elf::parse(bytes)?;
    if elf.sections.is_empty() {
        return Err(ElfError::NoSections);
    }
    Ok(elf
        .sections
        .iter()
        .filter(|s| names.contains(&s.name.as_str()) && s.ty != SHT_NOBITS)
        .filter_map(|s| Some((s.name.clone(), elf.file_range(s.offset, s.size)?.to_vec())))
        .collect())
}

/// Builds small ELF files for tests: a header, one writable `PT_LOAD` segment
/// covering the section data, and named sections.
#[cfg(test)]
pub(crate) mod build {
    /// An ELF image with `sections` (name, bytes), loaded from `vaddr`; with
    /// `section_headers` false, the section header table is left out (stripped).
    pub fn elf(
        is_64: bool,
        be: bool,
        vaddr: u64,
        sections: &[(&str, &[u8])],
        section_headers: bool,
    ) -> Vec<u8> {
        let put = |v: &mut Vec<u8>, x: u64, n: usize| {
            let b = if be { x.to_be_bytes() } else { x.to_le_bytes() };
            if be {
                v.extend_from_slice(&b[8 - n..]);
            } else {
                v.extend_from_slice(&b[..n]);
            }
        };
        let w = if is_64 { 8 } else { 4 };
        let (ehsize, phsize, shsize): (usize, usize, usize) =
            if is_64 { (64, 56, 64) } else { (52, 32, 40) };
        // Layout: header, one program header, section data (16-aligned), shstrtab,
        // section headers.
        let mut data = Vec::new();
        let mut placed = Vec::new();
        let data_start = (ehsize + phsize).div_ceil(16) * 16;
        for (name, bytes) in sections {
            while data.len() % 16 != 0 {
                data.push(0);
            }
            placed.push((*name, data_start + data.len(), bytes.len()));
            data.extend_from_slice(bytes);
        }
        let mut strtab = vec![0u8];
        let mut name_offs = Vec::new();
        for (name, _) in sections {
            name_offs.push(strtab.len());
            strtab.extend_from_slice(name.as_bytes());
            strtab.push(0);
        }
        let shstr_name = strtab.len();
        strtab.extend_from_slice(b".shstrtab\0");
        let strtab_off = data_start + data.len();
        let shoff = strtab_off + strtab.len();
        let nsec = sections.len() + 2;

        let mut v = Vec::new();
        v.extend_from_slice(b"\x7fELF");
        v.push(if is_64 { 2 } else { 1 });
        v.push(if be { 2 } else { 1 });
        v.push(1);
        v.resize(16, 0);
        put(&mut v, 2, 2); // e_type EXEC
        put(&mut v, 62, 2);
        put(&mut v, 1, 4);
        put(&mut v, 0, w); // entry
        put(&mut v, ehsize as u64, w); // phoff
        put(&mut v, if section_headers { shoff as u64 } else { 0 }, w);
        put(&mut v, 0, 4); // flags
        put(&mut v, ehsize as u64, 2);
        put(&mut v, phsize as u64, 2);
        put(&mut v, 1, 2);
        put(&mut v, shsize as u64, 2);
        put(&mut v, if section_headers { nsec as u64 } else { 0 }, 2);
        put(&mut v, if section_headers { nsec as u64 - 1 } else { 0 }, 2);
        // The writable load segment: file offset data_start at vaddr.
        let filesz = data.len() as u64;
        put(&mut v, 1, 4);
        if is_64 {
            put(&mut v, 6, 4);
            put(&mut v, data_start as u64, 8);
            put(&mut v, vaddr, 8);
            put(&mut v, vaddr, 8);
            put(&mut v, filesz, 8);
            put(&mut v, filesz, 8);
            put(&mut v, 16, 8);
        } else {
            put(&mut v, data_start as u64, 4);
            put(&mut v, vaddr, 4);
            put(&mut v, vaddr, 4);
            put(&mut v, filesz, 4);
            put(&mut v, filesz, 4);
            put(&mut v, 6, 4);
            put(&mut v, 16, 4);
        }
        v.resize(data_start, 0);
        v.extend_from_slice(&data);
        v.extend_from_slice(&strtab);
        if section_headers {
            let sh = |v: &mut Vec<u8>, name: usize, ty: u64, addr: u64, off: usize, size: usize| {
                put(v, name as u64, 4);
                put(v, ty, 4);
                put(v, 3, w); // flags WA
                put(v, addr, w);
                put(v, off as u64, w);
                put(v, size as u64, w);
                put(v, 0, 4);
                put(v, 0, 4);
                put(v, 16, w);
                put(v, 0, w);
            };
            sh(&mut v, 0, 0, 0, 0, 0);
            for ((_, off, len), name) in placed.iter().zip(&name_offs) {
                let addr = vaddr + (*off - data_start) as u64;
                sh(&mut v, *name, 1, addr, *off, *len);
            }
            sh(&mut v, shstr_name, 3, 0, strtab_off, strtab.len());
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sections_in_all_four_layouts() {
        for is_64 in [false, true] {
            for be in [false, true] {
                let bin = build::elf(
                    is_64,
                    be,
                    0x40_0000,
                    &[(".a", b"alpha"), (".dep-v0", b"xyz")],
                    true,
                );
                let got = sections(&bin, &[".dep-v0", ".missing"]).expect("parses");
                assert_eq!(
                    got,
                    vec![(".dep-v0".to_string(), b"xyz".to_vec())],
                    "64={is_64} be={be}"
                );
                let elf = Elf::parse(&bin).expect("parses");
                assert_eq!((elf.is_64, elf.big_endian), (is_64, be));
                assert_eq!(elf.section(".a"), Some(&b"alpha"[..]));
                // .a is at the start of the data, .dep-v0 at the next 16-byte boundary.
                assert_eq!(elf.read_virtual(0x40_0000, 5), Some(&b"alpha"[..]));
                assert_eq!(elf.read_virtual(0x40_0010, 3), Some(&b"xyz"[..]));
                assert_eq!(elf.read_virtual(0x40_0010, 4), None, "past the segment");
                assert_eq!(elf.read_virtual(0x3f_ffff, 1), None, "before it");
                assert_eq!(elf.writable_load_segments().count(), 1);
            }
        }
    }

    #[test]
    fn stripped_and_cut_short_files() {
        let bin = build::elf(true, false, 0x1000, &[(".go.buildinfo", b"data")], false);
        assert_eq!(
            sections(&bin, &[".go.buildinfo"]),
            Err(ElfError::NoSections)
        );
        let elf = Elf::parse(&bin).expect("program headers alone parse");
        let (addr, seg) = elf.writable_load_segments().next().expect("segment");
        assert_eq!((addr, seg), (0x1000, &b"data"[..]));
        // Cut before the section headers: the segments are still there.
        let full = build::elf(true, false, 0x1000, &[(".x", &[7u8; 64])], true);
        let cut = &full[..full.len() - 100];
        let elf = Elf::parse(cut).expect("parses");
        assert!(elf.sections.is_empty());
        assert_eq!(elf.segments.len(), 1);
        assert_eq!(Elf::parse(b"\x7fELF").err(), Some(ElfError::NotElf));
        assert_eq!(
            Elf::parse(b"\x7fELF\x03\x01").err(),
            Some(ElfError::BadClass(3))
        );
        assert!(matches!(Elf::parse(b"MZ\x90\0"), Err(ElfError::NotElf)));
    }

    #[test]
    fn reads_a_real_executable_from_the_host() {
        // Any Debian machine has /bin/sh as an ELF; its section table names .text.
        let bytes = std::fs::read("/bin/sh").expect("/bin/sh");
        let elf = Elf::parse(&bytes).expect("a real ELF parses");
        assert!(elf.sections.iter().any(|s| s.name == ".text"));
        assert!(elf.writable_load_segments().count() >= 1);
        let got = sections(&bytes, &[".interp"]).expect("sections");
        if let Some((_, interp)) = got.first() {
            assert!(interp.starts_with(b"/lib"), "{interp:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1024)) {
            let _ = sections(&bytes, &[".go.buildinfo", ".dep-v0"]);
            let mut elfish = b"\x7fELF".to_vec();
            elfish.extend_from_slice(&bytes);
            if let Ok(elf) = Elf::parse(&elfish) {
                let _ = elf.section(".dep-v0");
                let _ = elf.writable_load_segments().count();
                let _ = elf.read_virtual(u64::MAX - 3, 8);
            }
        }

        #[test]
        fn sections_round_trip(is_64: bool, be: bool, payload in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let bin = build::elf(is_64, be, 0x8000, &[(".go.buildinfo", &payload)], true);
            let got = sections(&bin, &[".go.buildinfo"]).expect("parses");
            proptest::prop_assert_eq!(got, vec![(".go.buildinfo".to_string(), payload.clone())]);
            // Every prefix parses or fails cleanly.
            for cut in [0, 5, 20, 60, bin.len() / 2, bin.len().saturating_sub(1)] {
                let _ = sections(&bin[..cut.min(bin.len())], &[".go.buildinfo"]);
            }
        }
    }
}
