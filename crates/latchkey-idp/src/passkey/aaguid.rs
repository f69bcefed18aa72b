//! Default names for new passkeys, from the authenticator model's AAGUID.
//!
//! A short list of our own: each AAGUID below was checked against at least two public sources
//! (the passkeydeveloper community list as quoted in other projects, Yubico's AAGUID table,
//! Microsoft's Windows Hello documentation). Unknown models, and platforms that send all zeros
//! under `attestation: "none"`, get "New Passkey", as in Pocket ID.

/// (AAGUID as lowercase hex without dashes, provider name).
const KNOWN: &[(&str, &str)] = &[
    // Apple
    ("fbfc3007154e4ecc8c0b6e020557d7bd", "iCloud Keychain"),
    (
        "dd4ec289e01d41c9bb8970fa845d4bf2",
        "iCloud Keychain (Managed)",
    ),
    // Google and Chromium
    (
        "ea9b8d664d011d213ce4b6b48cb575d4",
        "Google Password Manager",
    ),
    ("adce000235bcc60a648b0b25f1f05503", "Chrome on Mac"),
    ("b53976664885aa6bcebfe52262a439a2", "Chromium Browser"),
    // Microsoft
    ("08987058cadc4b81b6e130de50dcbe96", "Windows Hello"),
    ("9ddd1817af5a4672a2b93e3dd95000a9", "Windows Hello"),
    ("6028b017b1d44c02b4b3afcdafc96bb2", "Windows Hello"),
    // Samsung
    ("53414d53554e47000000000000000000", "Samsung Pass"),
    // Password managers
    ("bada5566a7aa401fbd9645619a55120d", "1Password"),
    ("d548826e79b4db40a3d811116f7e8349", "Bitwarden"),
    ("531126d6e717415c93203d9aa6981239", "Dashlane"),
    ("fdb141b25d84443e8a354698c205a502", "KeePassXC"),
    ("50726f746f6e5061737350726f746f6e", "Proton Pass"),
    ("b84e404815dc4dd08640f4f60813c8af", "NordPass"),
    ("0ea242b443c44a1b8b17dd6d0b6baec6", "Keeper"),
    ("f38095407f1449c1a8b38f813b225541", "Enpass"),
    ("b78a0a556ef8d246a042ba0f6d55050c", "LastPass"),
    // Yubico (https://yubi.co/aaguids)
    ("cb69481e8ff7403993ec0a2729a154a8", "YubiKey 5 Series"),
    ("ee882879721c491397753dfcce97072a", "YubiKey 5 Series"),
    (
        "fa2b99dc9e3942578f924a30d23c4118",
        "YubiKey 5 Series with NFC",
    ),
    (
        "2fc0579f811347eab116bb5a8db9202a",
        "YubiKey 5 Series with NFC",
    ),
    (
        "a25342c03cdc44148e46f4807fca511c",
        "YubiKey 5 Series with NFC",
    ),
    (
        "d7781e5de35346aaafe23ca49f13332a",
        "YubiKey 5 Series with NFC",
    ),
];

/// Name of the authenticator model, if we know it.
pub fn provider_name(aaguid: &[u8; 16]) -> Option<&'static str> {
    let hex: String = aaguid.iter().map(|b| format!("{b:02x}")).collect();
    KNOWN
        .iter()
        .find(|(id, _)| *id == hex)
        .map(|(_, name)| *name)
}

/// The name a new passkey gets: "<provider> Passkey", or "New Passkey" when unknown.
pub fn passkey_name(aaguid: &[u8; 16]) -> String {
    match provider_name(aaguid) {
        Some(name) => format!("{name} Passkey"),
        None => "New Passkey".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_well_formed() {
        for (id, name) in KNOWN {
            assert_eq!(id.len(), 32, "{name}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{name}"
            );
            assert_ne!(*id, "00000000000000000000000000000000");
        }
        let mut ids: Vec<_> = KNOWN.iter().map(|(id, _)| id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), KNOWN.len(), "an AAGUID is listed twice");
    }
}
