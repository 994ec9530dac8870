use pgp::composed::{Deserializable, SignedPublicKey};
use pgp::types::KeyDetails;
fn main() {
    for f in std::env::args().skip(1) {
        let b = std::fs::read(&f).unwrap();
        for k in SignedPublicKey::from_bytes_many(std::io::Cursor::new(b)).unwrap() {
            let k = k.unwrap();
            println!("{f} primary {} bindings {:?}", k.primary_key.fingerprint(), k.verify_bindings().err().map(|e| e.to_string()));
            for s in &k.public_subkeys { println!("   sub {} {:?}", s.key.fingerprint(), s.verify_bindings(&k.primary_key).err().map(|e| e.to_string())); }
        }
    }
}
