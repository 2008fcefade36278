//! A test-only Android attestation PKI: a root and intermediate of our own (injected through
//! the settings or the policy's `android_roots`, never a default) and leaves carrying a
//! KeyDescription extension encoded here, as a phone's KeyMint writes it.

use certgate::enroll::android::AndroidSettings;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::CertificateDer;

pub const PACKAGE: &str = "com.example.app";
pub const SIGNER: [u8; 32] = [0x5a; 32];
pub const CHALLENGE: &[u8] = b"enrollment-challenge-0123456789";

pub fn der(tag: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else if len < 0x1_0000 {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    } else {
        out.extend([0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(body);
    out
}

pub fn int(n: u64) -> Vec<u8> {
    let mut bytes = n.to_be_bytes().to_vec();
    while bytes.len() > 1 && bytes[0] == 0 && bytes[1] < 0x80 {
        bytes.remove(0);
    }
    if bytes[0] >= 0x80 {
        bytes.insert(0, 0);
    }
    der(&[0x02], &bytes)
}

/// `[n] EXPLICIT` around `inner`.
pub fn tagged(n: u32, inner: &[u8]) -> Vec<u8> {
    if n < 31 {
        der(&[0xa0 | n as u8], inner)
    } else {
        let mut tag = vec![0xbf];
        let mut groups = Vec::new();
        let mut v = n;
        while v > 0 {
            groups.push((v & 0x7f) as u8);
            v >>= 7;
        }
        for (i, g) in groups.iter().enumerate().rev() {
            tag.push(if i == 0 { *g } else { g | 0x80 });
        }
        der(&tag, inner)
    }
}

/// What the synthetic KeyDescription says.
#[derive(Clone)]
pub struct Kd {
    pub version: u64,
    pub level: u8,
    pub keymint_level: u8,
    pub challenge: Vec<u8>,
    pub purposes: Vec<u64>,
    pub boot_state: u8,
    pub locked: bool,
    pub packages: Vec<(String, u64)>,
    pub digests: Vec<Vec<u8>>,
    pub os_patch_level: Option<u64>,
    /// Put osVersion after osPatchLevel (out of order).
    pub unordered: bool,
    /// Extra bytes of an unknown tag [900] in the hardware list.
    pub unknown_tag_len: usize,
    /// Leave out the root of trust [704].
    pub no_root_of_trust: bool,
    /// Leave out the attestation application id [709].
    pub no_app_id: bool,
}

impl Default for Kd {
    fn default() -> Self {
        Self {
            version: 400,
            level: 1,
            keymint_level: 1,
            challenge: CHALLENGE.to_vec(),
            purposes: vec![2, 3],
            boot_state: 0,
            locked: true,
            packages: vec![(PACKAGE.into(), 42)],
            digests: vec![SIGNER.to_vec()],
            os_patch_level: Some(202_511),
            unordered: false,
            unknown_tag_len: 0,
            no_root_of_trust: false,
            no_app_id: false,
        }
    }
}

impl Kd {
    pub fn encode(&self) -> Vec<u8> {
        let purposes: Vec<u8> = self.purposes.iter().flat_map(|p| int(*p)).collect();
        let infos: Vec<u8> = self
            .packages
            .iter()
            .flat_map(|(name, v)| der(&[0x30], &[der(&[0x04], name.as_bytes()), int(*v)].concat()))
            .collect();
        let digests: Vec<u8> = self.digests.iter().flat_map(|d| der(&[0x04], d)).collect();
        let app_id = der(
            &[0x30],
            &[der(&[0x31], &infos), der(&[0x31], &digests)].concat(),
        );
        let rot = der(
            &[0x30],
            &[
                der(&[0x04], &[7; 32]),
                der(&[0x01], &[if self.locked { 0xff } else { 0x00 }]),
                der(&[0x0a], &[self.boot_state]),
                der(&[0x04], &[9; 32]),
            ]
            .concat(),
        );
        let mut software_entries = vec![(701, tagged(701, &int(1_700_000_000_000)))];
        if !self.no_app_id {
            software_entries.push((709, tagged(709, &der(&[0x04], &app_id))));
        }
        let mut hardware_entries = vec![
            (1, tagged(1, &der(&[0x31], &purposes))),
            (2, tagged(2, &int(3))),
            (3, tagged(3, &int(256))),
            (503, tagged(503, &[0x05, 0x00])),
            (702, tagged(702, &int(0))),
            (705, tagged(705, &int(160_000))),
        ];
        if !self.no_root_of_trust {
            hardware_entries.push((704, tagged(704, &rot)));
        }
        if let Some(p) = self.os_patch_level {
            hardware_entries.push((706, tagged(706, &int(p))));
        }
        if self.unknown_tag_len > 0 {
            hardware_entries.push((
                900,
                tagged(900, &der(&[0x04], &vec![0xab; self.unknown_tag_len])),
            ));
        }
        // A software KeyMint enforces everything in software.
        let (mut sw, mut hw) = if self.keymint_level == 0 {
            let mut all = software_entries;
            all.extend(hardware_entries);
            (all, Vec::new())
        } else {
            (software_entries, hardware_entries)
        };
        sw.sort_by_key(|(t, _)| *t);
        hw.sort_by_key(|(t, _)| *t);
        if self.unordered {
            hw.reverse();
        }
        let software = der(
            &[0x30],
            &sw.into_iter().flat_map(|(_, e)| e).collect::<Vec<u8>>(),
        );
        let hardware = der(
            &[0x30],
            &hw.into_iter().flat_map(|(_, e)| e).collect::<Vec<u8>>(),
        );
        der(
            &[0x30],
            &[
                int(self.version),
                der(&[0x0a], &[self.level]),
                int(self.version),
                der(&[0x0a], &[self.keymint_level]),
                der(&[0x04], &self.challenge),
                der(&[0x04], &[]),
                software,
                hardware,
            ]
            .concat(),
        )
    }
}

pub struct Ca {
    pub params: CertificateParams,
    pub key: KeyPair,
    pub cert: CertificateDer<'static>,
}

impl Ca {
    pub fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }
}

pub fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

pub fn ca_params(cn: &str, serial: u64, ca: bool) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = name(cn);
    p.serial_number = Some(serial.into());
    p.not_before = rcgen::date_time_ymd(2025, 1, 1);
    p.not_after = rcgen::date_time_ymd(2035, 1, 1);
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    } else {
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    }
    p
}

pub fn kd_extension(content: &[u8]) -> CustomExtension {
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 11129, 2, 1, 17], content.to_vec())
}

/// root → intermediate (optionally not a CA) → leaf with `kd` (and optional edits).
pub struct Synthetic {
    pub root: Ca,
    pub intermediate: Ca,
}

impl Synthetic {
    pub fn new(intermediate_is_ca: bool) -> Self {
        Self::build(
            |_| {},
            move |p| {
                if !intermediate_is_ca {
                    p.is_ca = IsCa::ExplicitNoCa;
                    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                }
            },
        )
    }

    /// The hierarchy with edits to the root's and the intermediate's parameters.
    pub fn build(
        root_edit: impl FnOnce(&mut CertificateParams),
        intermediate_edit: impl FnOnce(&mut CertificateParams),
    ) -> Self {
        let mut root_params = ca_params("Test Attestation Root", 1, true);
        root_edit(&mut root_params);
        let root_key = KeyPair::generate().unwrap();
        let root_cert = root_params.self_signed(&root_key).unwrap().der().clone();
        let root = Ca {
            params: root_params,
            key: root_key,
            cert: root_cert,
        };
        let mut params = ca_params("Test Attestation Intermediate", 2, true);
        intermediate_edit(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params
            .signed_by(&key, &root.issuer())
            .unwrap()
            .der()
            .clone();
        Self {
            root,
            intermediate: Ca { params, key, cert },
        }
    }

    pub fn settings(&self) -> AndroidSettings {
        AndroidSettings::with_roots(
            std::slice::from_ref(&self.root.cert),
            rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .all,
        )
        .unwrap()
    }

    pub fn leaf_with(
        &self,
        content: &[u8],
        edit: impl FnOnce(&mut CertificateParams),
    ) -> (Vec<CertificateDer<'static>>, KeyPair) {
        let mut params = CertificateParams::default();
        params.distinguished_name = name("Android Keystore Key");
        params.serial_number = Some(1u64.into());
        params.not_before = rcgen::date_time_ymd(1970, 1, 1);
        params.not_after = rcgen::date_time_ymd(2048, 1, 1);
        params.custom_extensions.push(kd_extension(content));
        edit(&mut params);
        let key = KeyPair::generate().unwrap();
        let leaf = params
            .signed_by(&key, &self.intermediate.issuer())
            .unwrap()
            .der()
            .clone();
        (
            vec![leaf, self.intermediate.cert.clone(), self.root.cert.clone()],
            key,
        )
    }

    pub fn chain(&self, kd: &Kd) -> Vec<CertificateDer<'static>> {
        self.leaf_with(&kd.encode(), |_| {}).0
    }
}
