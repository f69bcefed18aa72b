//! COSE public keys (RFC 9052/9053) as stored with a passkey.
//!
//! We store the COSE key, as Pocket ID does, so passkeys imported from its export verify too.
//! New keys are written in the CTAP2 canonical form `webauthn_rp` itself accepted; stored keys
//! are read with a small, tolerant CBOR reader (any key order, extra labels ignored) because
//! other servers may have kept the authenticator's own encoding.

use webauthn_rp::response::register::{
    CompressedP256PubKey, CompressedP384PubKey, CompressedPubKey, Ed25519PubKey, RsaPubKey,
    UncompressedPubKey,
};

/// A public key read from COSE, borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CoseKey<'a> {
    Ed25519 { x: &'a [u8] },
    P256 { x: &'a [u8], y: &'a [u8] },
    P384 { x: &'a [u8], y: &'a [u8] },
    Rs256 { n: &'a [u8], e: u32 },
}

// COSE labels and values (IANA "COSE Key Common Parameters", "COSE Algorithms").
const KTY: i64 = 1;
const ALG: i64 = 3;
const KTY_OKP: i64 = 1;
const KTY_EC2: i64 = 2;
const KTY_RSA: i64 = 3;
const ALG_EDDSA: i64 = -8;
const ALG_ES256: i64 = -7;
const ALG_ES384: i64 = -35;
const ALG_RS256: i64 = -257;
const CRV_P256: i64 = 1;
const CRV_P384: i64 = 2;
const CRV_ED25519: i64 = 6;

/// Encodes a key just verified by `webauthn_rp` in CTAP2 canonical CBOR.
pub(crate) fn encode(key: UncompressedPubKey<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(80);
    match key {
        UncompressedPubKey::Ed25519(k) => {
            out.push(0xa4);
            push_pair(&mut out, KTY, KTY_OKP);
            push_pair(&mut out, ALG, ALG_EDDSA);
            push_pair(&mut out, -1, CRV_ED25519);
            push_int(&mut out, -2);
            push_bytes(&mut out, k.inner());
        }
        UncompressedPubKey::P256(k) => {
            out.push(0xa5);
            push_pair(&mut out, KTY, KTY_EC2);
            push_pair(&mut out, ALG, ALG_ES256);
            push_pair(&mut out, -1, CRV_P256);
            push_int(&mut out, -2);
            push_bytes(&mut out, k.x());
            push_int(&mut out, -3);
            push_bytes(&mut out, k.y());
        }
        UncompressedPubKey::P384(k) => {
            out.push(0xa5);
            push_pair(&mut out, KTY, KTY_EC2);
            push_pair(&mut out, ALG, ALG_ES384);
            push_pair(&mut out, -1, CRV_P384);
            push_int(&mut out, -2);
            push_bytes(&mut out, k.x());
            push_int(&mut out, -3);
            push_bytes(&mut out, k.y());
        }
        UncompressedPubKey::Rsa(k) => {
            out.push(0xa4);
            push_pair(&mut out, KTY, KTY_RSA);
            push_pair(&mut out, ALG, ALG_RS256);
            push_int(&mut out, -1);
            push_bytes(&mut out, k.n());
            push_int(&mut out, -2);
            let e = k.e().to_be_bytes();
            let first = e.iter().position(|b| *b != 0).unwrap_or(e.len() - 1);
            push_bytes(&mut out, &e[first..]);
        }
    }
    out
}

fn need<'a>(v: Option<&'a [u8]>, what: &str) -> Result<&'a [u8], String> {
    v.ok_or_else(|| format!("COSE key lacks {what}"))
}

/// Reads a stored COSE key. Errors name what is wrong, for the log.
pub(crate) fn decode(bytes: &[u8]) -> Result<CoseKey<'_>, String> {
    let mut r = Reader {
        buf: bytes,
        depth: 0,
    };
    let (major, entries) = r.head()?;
    if major != MAP {
        return Err("COSE key is not a CBOR map".into());
    }
    let (mut kty, mut alg, mut crv) = (None, None, None);
    let (mut m1, mut m2, mut m3) = (None, None, None);
    for _ in 0..entries {
        let label = match r.int() {
            Ok(label) => label,
            // Text labels are private use; skip the pair.
            Err(_) => {
                r.skip()?;
                r.skip()?;
                continue;
            }
        };
        match label {
            KTY => kty = Some(r.int()?),
            ALG => alg = Some(r.int()?),
            -1 => match r.peek_major()? {
                BYTES => m1 = Some(r.bytes()?),
                _ => crv = Some(r.int()?),
            },
            -2 => m2 = Some(r.bytes()?),
            -3 => m3 = Some(r.bytes()?),
            _ => r.skip()?,
        }
    }
    if !r.buf.is_empty() {
        return Err("trailing bytes after the COSE key".into());
    }
    match (kty, alg) {
        (Some(KTY_OKP), Some(ALG_EDDSA) | None) if crv == Some(CRV_ED25519) => {
            Ok(CoseKey::Ed25519 { x: need(m2, "x")? })
        }
        (Some(KTY_EC2), Some(ALG_ES256) | None) if crv == Some(CRV_P256) => Ok(CoseKey::P256 {
            x: need(m2, "x")?,
            y: need(m3, "y")?,
        }),
        (Some(KTY_EC2), Some(ALG_ES384) | None) if crv == Some(CRV_P384) => Ok(CoseKey::P384 {
            x: need(m2, "x")?,
            y: need(m3, "y")?,
        }),
        (Some(KTY_RSA), Some(ALG_RS256)) => {
            let e = need(m2, "e")?;
            let e = e.strip_prefix(&[0][..]).unwrap_or(e);
            if e.is_empty() || e.len() > 4 {
                return Err("RSA exponent out of range".into());
            }
            let mut buf = [0u8; 4];
            buf[4 - e.len()..].copy_from_slice(e);
            Ok(CoseKey::Rs256 {
                n: need(m1, "n")?,
                e: u32::from_be_bytes(buf),
            })
        }
        (kty, alg) => Err(format!(
            "unsupported COSE key (kty {kty:?}, alg {alg:?}, crv {crv:?})"
        )),
    }
}

/// A public key in the form `webauthn_rp` verifies assertions with, borrowing its bytes.
pub(crate) type VerifierKey<'a> = CompressedPubKey<&'a [u8], &'a [u8], &'a [u8], &'a [u8]>;

impl<'a> CoseKey<'a> {
    /// The form `webauthn_rp` verifies assertions with.
    pub(crate) fn to_verifier(self) -> Result<VerifierKey<'a>, String> {
        let y_is_odd = |y: &[u8]| y.last().is_some_and(|b| b & 1 == 1);
        Ok(match self {
            Self::Ed25519 { x } => CompressedPubKey::Ed25519(
                Ed25519PubKey::try_from(x).map_err(|e| format!("Ed25519 key: {e}"))?,
            ),
            Self::P256 { x, y } => CompressedPubKey::P256(
                CompressedP256PubKey::try_from((x, y_is_odd(y)))
                    .map_err(|e| format!("P-256 key: {e}"))?,
            ),
            Self::P384 { x, y } => CompressedPubKey::P384(
                CompressedP384PubKey::try_from((x, y_is_odd(y)))
                    .map_err(|e| format!("P-384 key: {e}"))?,
            ),
            Self::Rs256 { n, e } => CompressedPubKey::Rsa(
                RsaPubKey::try_from((n, e)).map_err(|e| format!("RSA key: {e}"))?,
            ),
        })
    }
}

const UINT: u8 = 0;
const NEG: u8 = 1;
const BYTES: u8 = 2;
const TEXT: u8 = 3;
const ARRAY: u8 = 4;
const MAP: u8 = 5;
const TAG: u8 = 6;
/// COSE keys are flat; deeper nesting is junk, and refusing it bounds recursion.
const MAX_DEPTH: u8 = 4;

/// Just enough definite-length CBOR to read a COSE key; every failure is an error, never a panic.
struct Reader<'a> {
    buf: &'a [u8],
    depth: u8,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let (head, rest) = self
            .buf
            .split_at_checked(n)
            .ok_or_else(|| "COSE key is truncated".to_string())?;
        self.buf = rest;
        Ok(head)
    }

    fn peek_major(&self) -> Result<u8, String> {
        self.buf
            .first()
            .map(|b| b >> 5)
            .ok_or_else(|| "COSE key is truncated".to_string())
    }

    /// Major type and argument of the next item.
    fn head(&mut self) -> Result<(u8, u64), String> {
        let first = self.take(1)?[0];
        let (major, info) = (first >> 5, first & 0x1f);
        let arg = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.take(1)?[0]),
            25 => u64::from(u16::from_be_bytes(fixed(self.take(2)?)?)),
            26 => u64::from(u32::from_be_bytes(fixed(self.take(4)?)?)),
            27 => u64::from_be_bytes(fixed(self.take(8)?)?),
            _ => return Err("indefinite or reserved CBOR length".into()),
        };
        Ok((major, arg))
    }

    fn int(&mut self) -> Result<i64, String> {
        let saved = self.buf;
        let (major, arg) = self.head()?;
        let value = i64::try_from(arg).map_err(|_| "CBOR integer too large".to_string());
        match major {
            UINT => value,
            NEG => value.map(|v| -1 - v),
            _ => {
                self.buf = saved;
                Err("expected a CBOR integer".into())
            }
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let (major, len) = self.head()?;
        if major != BYTES {
            return Err("expected a CBOR byte string".into());
        }
        self.take(usize::try_from(len).map_err(|_| "CBOR length too large".to_string())?)
    }

    fn skip(&mut self) -> Result<(), String> {
        let (major, arg) = self.head()?;
        let len = || usize::try_from(arg).map_err(|_| "CBOR length too large".to_string());
        match major {
            UINT | NEG => Ok(()),
            BYTES | TEXT => self.take(len()?).map(|_| ()),
            ARRAY | MAP | TAG => {
                if self.depth >= MAX_DEPTH {
                    return Err("CBOR nested too deeply".into());
                }
                self.depth += 1;
                let items = match major {
                    ARRAY => arg,
                    MAP => arg.saturating_mul(2),
                    _ => 1,
                };
                for _ in 0..items {
                    self.skip()?;
                }
                self.depth -= 1;
                Ok(())
            }
            // Simple values and floats carry their payload in the head.
            _ => Ok(()),
        }
    }
}

fn fixed<const N: usize>(s: &[u8]) -> Result<[u8; N], String> {
    s.try_into()
        .map_err(|_| "COSE key is truncated".to_string())
}

fn push_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    match arg {
        0..=23 => out.push(m | arg as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, arg as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(arg as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(arg as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&arg.to_be_bytes());
        }
    }
}

fn push_int(out: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        push_head(out, UINT, v.unsigned_abs());
    } else {
        push_head(out, NEG, (-1 - v).unsigned_abs());
    }
}

fn push_pair(out: &mut Vec<u8>, label: i64, value: i64) {
    push_int(out, label);
    push_int(out, value);
}

fn push_bytes(out: &mut Vec<u8>, b: &[u8]) {
    push_head(out, BYTES, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    // The ES256 key of WebAuthn Level 3's test vectors, in canonical CTAP2 form.
    const P256_KEY: &str = "a5010203262001215820afefa16f97ca9b2d23eb86ccb64098d20db90856062eb249c33a9b672f26df61225820930a56b87a2fca66334b03458abf879717c12cc68ed73290af2e2664796b9220";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn reads_canonical_p256() {
        let bytes = hex(P256_KEY);
        let key = decode(&bytes).expect("decodes");
        let CoseKey::P256 { x, y } = key else {
            panic!("not P-256: {key:?}")
        };
        assert_eq!(x.len(), 32);
        assert_eq!(y.len(), 32);
        assert!(key.to_verifier().is_ok());
    }

    #[test]
    fn reads_any_order_and_extra_labels() {
        let canonical = hex(P256_KEY);
        let CoseKey::P256 { x, y } = decode(&canonical).expect("decodes") else {
            panic!("not P-256")
        };
        // {-3: y, -2: x, 3: -7, 1: 2, -1: 1, "note": [1, {2: 3}]} as six entries.
        let mut shuffled = vec![0xa6];
        push_int(&mut shuffled, -3);
        push_bytes(&mut shuffled, y);
        push_int(&mut shuffled, -2);
        push_bytes(&mut shuffled, x);
        push_pair(&mut shuffled, 3, -7);
        push_pair(&mut shuffled, 1, 2);
        push_pair(&mut shuffled, -1, 1);
        shuffled.extend_from_slice(&[0x64, b'n', b'o', b't', b'e', 0x82, 0x01, 0xa1, 0x02, 0x03]);
        assert_eq!(decode(&shuffled), Ok(CoseKey::P256 { x, y }));
    }

    #[test]
    fn junk_is_an_error_not_a_panic() {
        let canonical = hex(P256_KEY);
        for n in 0..canonical.len() {
            assert!(decode(&canonical[..n]).is_err(), "prefix of {n} bytes");
        }
        for junk in [
            &[0xff][..],
            &[0xbf],
            &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(decode(junk).is_err());
        }
        let deep = [0xa1, 0x07, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x00];
        assert!(decode(&deep).is_err());
        // A map claiming 2^64-1 entries ends at the truncated input, not in a long loop.
        let huge = [
            0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02,
        ];
        assert!(decode(&huge).is_err());
    }
}
