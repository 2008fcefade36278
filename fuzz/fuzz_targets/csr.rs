//! Arbitrary bytes into `certgate::issue::Csr::parse` (PEM or DER PKCS#10). It never panics;
//! an accepted request has a supported key kind, a SubjectPublicKeyInfo that is a prefix-free
//! DER SEQUENCE inside the input's DER, and parses the same way twice.
#![no_main]

use certgate::issue::Csr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(csr) = Csr::parse(data) else {
        return;
    };
    assert!(
        ["p256", "p384", "ed25519", "rsa2048", "rsa3072", "rsa4096", "rsa"].contains(&csr.key_kind()),
        "{}",
        csr.key_kind()
    );
    assert_eq!(csr.spki_der().first(), Some(&0x30));
    assert!(csr.spki_der().len() <= certgate::issue::MAX_CSR_BYTES);
    assert_eq!(Csr::parse(data).ok().as_ref(), Some(&csr));
});
