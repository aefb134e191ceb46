//! Who is at the other end of a connection: a TLS client certificate's subject common name, as
//! dockerd takes it for its authorization plugins (`User`, with `UserAuthNMethod` `TLS`). UNIX
//! sockets and plain TCP name nobody. Each connection's [`PeerUser`] goes into every request it
//! carries as an extension, read by `server::authz`.

use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::server::TlsStream;

/// The user a connection authenticated as: the common name of its verified client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerUser(pub String);

/// A connection that may name its peer.
pub trait PeerIdentity {
    /// The peer's user, when the connection authenticated one.
    fn peer_user(&self) -> Option<PeerUser> {
        None
    }
}

impl PeerIdentity for UnixStream {}

impl PeerIdentity for TcpStream {}

impl PeerIdentity for TlsStream<TcpStream> {
    fn peer_user(&self) -> Option<PeerUser> {
        // The handshake verified the chain (with --tlsverify); without a client certificate
        // there is no user, as in dockerd.
        let leaf = self.get_ref().1.peer_certificates()?.first()?;
        let cert = webpki::EndEntityCert::try_from(leaf).ok()?;
        common_name(cert.subject()).map(PeerUser)
    }
}

/// The common name (OID 2.5.4.3) in a certificate subject's DER contents (the RDN sequence
/// without its outer SEQUENCE header). With several, the last, as Go's `pkix.Name` keeps it.
fn common_name(subject: &[u8]) -> Option<String> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    let mut name = None;
    let mut rdns = subject;
    while !rdns.is_empty() {
        let (set, rest) = tlv(rdns, 0x31)?;
        rdns = rest;
        let mut atvs = set;
        while !atvs.is_empty() {
            let (atv, rest) = tlv(atvs, 0x30)?;
            atvs = rest;
            let (oid, value) = tlv(atv, 0x06)?;
            if oid == CN {
                // UTF8String, PrintableString, TeletexString, IA5String.
                let (tag, text) = (value.first()?, value);
                if matches!(tag, 0x0c | 0x13 | 0x14 | 0x16) {
                    let (text, _) = tlv(text, *tag)?;
                    name = Some(String::from_utf8_lossy(text).into_owned());
                }
            }
        }
    }
    name
}

/// One DER element of `tag` at the start of `der`: its contents and what follows it.
fn tlv(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = der.split_first()?;
    if first != tag {
        return None;
    }
    let (&len0, mut rest) = rest.split_first()?;
    let len = if len0 < 0x80 {
        usize::from(len0)
    } else {
        let n = usize::from(len0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One RDN: SET { SEQUENCE { OID, string } }.
    fn rdn(oid: &[u8], tag: u8, text: &str) -> Vec<u8> {
        let mut atv = vec![0x06, oid.len() as u8];
        atv.extend_from_slice(oid);
        atv.extend([tag, text.len() as u8]);
        atv.extend_from_slice(text.as_bytes());
        let mut seq = vec![0x30, atv.len() as u8];
        seq.extend(atv);
        let mut set = vec![0x31, seq.len() as u8];
        set.extend(seq);
        set
    }

    #[test]
    fn the_common_name_is_found_among_the_other_attributes() {
        let org = [0x55, 0x04, 0x0a];
        let cn = [0x55, 0x04, 0x03];
        let mut subject = rdn(&org, 0x0c, "Berth");
        subject.extend(rdn(&cn, 0x13, "alice"));
        assert_eq!(common_name(&subject).as_deref(), Some("alice"));
        subject.extend(rdn(&cn, 0x0c, "bob"));
        assert_eq!(
            common_name(&subject).as_deref(),
            Some("bob"),
            "the last wins"
        );
        assert_eq!(common_name(&rdn(&org, 0x0c, "Berth")), None);
    }

    #[test]
    fn truncated_or_mistagged_der_names_nobody() {
        let subject = rdn(&[0x55, 0x04, 0x03], 0x0c, "alice");
        for cut in 1..subject.len() {
            assert_eq!(common_name(&subject[..cut]), None, "cut at {cut}");
        }
        let mut wrong = subject.clone();
        wrong[0] = 0x30;
        assert_eq!(common_name(&wrong), None);
        assert_eq!(common_name(&[]), None);
    }

    #[test]
    fn long_form_lengths_are_read() {
        let text = "x".repeat(200);
        let oid = [0x55, 0x04, 0x03];
        let mut atv = vec![0x06, 3];
        atv.extend_from_slice(&oid);
        atv.extend([0x0c, 0x81, 200]);
        atv.extend_from_slice(text.as_bytes());
        let mut seq = vec![0x30, 0x81, atv.len() as u8];
        seq.extend(atv);
        let mut set = vec![0x31, 0x81, seq.len() as u8];
        set.extend(seq);
        assert_eq!(common_name(&set), Some(text));
    }
}
