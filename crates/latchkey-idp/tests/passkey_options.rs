//! The options JSON has Pocket ID's shape.

mod passkey_support;

use latchkey_idp::passkey::{Attachment, PasskeyUser, UserVerification};
use latchkey_oidc::crypto::{b64url, b64url_decode};
use passkey_support::{NOW, USER_ID, ceremonies, settings, user};
use serde_json::{Value, json};

fn challenge(options: &Value) -> Vec<u8> {
    b64url_decode(
        options["publicKey"]["challenge"]
            .as_str()
            .expect("challenge string"),
    )
    .expect("base64url challenge")
}

#[test]
fn registration_options_match_pocket_id() {
    let c = ceremonies(settings());
    let (options, _) = c.start_registration(&user(), &[], NOW).expect("options");
    let pk = &options["publicKey"];
    assert_eq!(
        pk["rp"],
        json!({ "name": "Latchkey", "id": "id.example.com" })
    );
    assert_eq!(
        pk["user"],
        json!({ "id": b64url(USER_ID.as_bytes()), "name": "alice", "displayName": "Alice Example" })
    );
    // webauthn_rp's challenges are 16 random bytes (Pocket ID sends 32; both above the
    // spec's minimum of 16).
    assert_eq!(challenge(&options).len(), 16);
    assert_eq!(pk["timeout"], 60000);
    assert_eq!(
        pk["authenticatorSelection"],
        json!({ "residentKey": "required", "requireResidentKey": true, "userVerification": "required" })
    );
    assert_eq!(pk["attestation"], "none");
    assert_eq!(pk["extensions"], json!({ "credProps": true }));
    assert!(pk.get("excludeCredentials").is_none(), "omitted when empty");
    let params = pk["pubKeyCredParams"].as_array().expect("array");
    assert!(params.iter().all(|p| p["type"] == "public-key"));
    let algs: Vec<i64> = params.iter().filter_map(|p| p["alg"].as_i64()).collect();
    assert_eq!(algs, [-7, -35, -257, -8], "ES256, ES384, RS256, EdDSA");
}

#[test]
fn registration_options_exclude_existing_credentials() {
    let c = ceremonies(settings());
    let existing = [vec![1, 2, 3], vec![0xff; 20]];
    let (options, _) = c
        .start_registration(&user(), &existing, NOW)
        .expect("options");
    assert_eq!(
        options["publicKey"]["excludeCredentials"],
        json!([
            { "type": "public-key", "id": b64url(&[1, 2, 3]) },
            { "type": "public-key", "id": b64url(&[0xff; 20]) },
        ])
    );
}

#[test]
fn registration_options_follow_settings() {
    let mut s = settings();
    s.user_verification = UserVerification::Preferred;
    s.attachment = Attachment::Platform;
    s.rp_name = "Homelab".into();
    let (options, _) = ceremonies(s.clone())
        .start_registration(&user(), &[], NOW)
        .expect("options");
    let selection = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["userVerification"], "preferred");
    assert_eq!(selection["authenticatorAttachment"], "platform");
    assert_eq!(options["publicKey"]["rp"]["name"], "Homelab");

    s.attachment = Attachment::CrossPlatform;
    let (options, _) = ceremonies(s)
        .start_registration(&user(), &[], NOW)
        .expect("options");
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["authenticatorAttachment"],
        "cross-platform"
    );
}

#[test]
fn empty_display_name_falls_back_to_username() {
    let c = ceremonies(settings());
    let person = PasskeyUser {
        display_name: String::new(),
        ..user()
    };
    let (options, _) = c.start_registration(&person, &[], NOW).expect("options");
    assert_eq!(options["publicKey"]["user"]["displayName"], "alice");
}

#[test]
fn names_go_out_as_the_directory_has_them() {
    // Spaces, case and symbols that a strict PRECIS username profile would refuse.
    let c = ceremonies(settings());
    let person = PasskeyUser {
        name: "Alice Example+1@Example.COM".into(),
        display_name: "  Ålice 🙂 ".into(),
        ..user()
    };
    let (options, _) = c.start_registration(&person, &[], NOW).expect("options");
    assert_eq!(
        options["publicKey"]["user"]["name"],
        "Alice Example+1@Example.COM"
    );
    assert_eq!(options["publicKey"]["user"]["displayName"], "  Ålice 🙂 ");
}

#[test]
fn user_id_must_be_a_uuid_string() {
    let c = ceremonies(settings());
    let person = PasskeyUser {
        id: "42".into(),
        ..user()
    };
    let err = c.start_registration(&person, &[], NOW).unwrap_err();
    assert_eq!(err.code(), "internal_server_error");
}

#[test]
fn sign_in_options_are_discoverable() {
    let c = ceremonies(settings());
    let (options, _) = c.start_authentication(NOW).expect("options");
    let pk = options["publicKey"].as_object().expect("object");
    let mut keys: Vec<&str> = pk.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["challenge", "rpId", "timeout", "userVerification"]);
    assert_eq!(pk["rpId"], "id.example.com");
    assert_eq!(pk["timeout"], 60000);
    assert_eq!(pk["userVerification"], "required");
    assert_eq!(challenge(&options).len(), 16);

    let mut s = settings();
    s.user_verification = UserVerification::Preferred;
    let (options, _) = ceremonies(s).start_authentication(NOW).expect("options");
    assert_eq!(options["publicKey"]["userVerification"], "preferred");
}

#[test]
fn every_ceremony_has_a_fresh_challenge() {
    let c = ceremonies(settings());
    let (a, _) = c.start_authentication(NOW).expect("options");
    let (b, _) = c.start_authentication(NOW).expect("options");
    let (r, _) = c.start_registration(&user(), &[], NOW).expect("options");
    assert_ne!(challenge(&a), challenge(&b));
    assert_ne!(challenge(&a), challenge(&r));
}
