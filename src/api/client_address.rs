//! The client's network address, which the throttles count. [`ClientAddressLayer`] works
//! it out once per call and leaves it in the request's extensions: the connection's peer,
//! unless that peer is a trusted proxy (`--trusted-proxies`); then the address the
//! proxies' `forwarded` (RFC 7239) or `x-forwarded-for` header names, read from the right
//! past every trusted hop — what an untrusted hop wrote further left could be forged.

use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    pin::Pin,
    str::FromStr,
    sync::Arc,
    task::{Context, Poll},
};
use tonic::{Request, codegen::http, transport::server::TcpConnectInfo};
use tower::{Layer, Service};

/// A block of addresses: an address and how many leading bits of it count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `address` is in the block (an IPv4 address mapped into IPv6 counts as
    /// the IPv4 address).
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// `192.0.2.0/24`, `2001:db8::/32`, or one address (`192.0.2.7`).
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network = IpAddr::from_str(address)
            .map_err(|_| format!("{text:?} is not an address or a CIDR block"))?
            .to_canonical();
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= bits)
                .ok_or_else(|| format!("{text:?}: the prefix must be 0 to {bits}"))?,
        };
        Ok(Self { network, prefix })
    }
}

/// The client's address as the layer worked it out (`None` when the transport has no
/// peer address, as over a Unix socket).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

/// The client address of a call.
pub fn client_address<T>(request: &Request<T>) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ClientAddress>()
        .and_then(|found| found.0)
}

/// The client's address, given the connection's `peer` and the request's headers.
pub fn resolve(
    peer: Option<IpAddr>,
    headers: &http::HeaderMap,
    trusted: &[Cidr],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |address: IpAddr| trusted.iter().any(|block| block.contains(address));
    if !is_trusted(peer) {
        return Some(peer);
    }
    // The hops the proxies recorded, client first; `None` for one that cannot be read.
    let hops: Vec<Option<IpAddr>> = if headers.contains_key(http::header::FORWARDED) {
        headers
            .get_all(http::header::FORWARDED)
            .iter()
            .flat_map(|value| value.to_str().unwrap_or("unknown").split(','))
            .map(forwarded_for)
            .collect()
    } else {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|value| value.to_str().unwrap_or("unknown").split(','))
            .map(|hop| parse_node(hop.trim()))
            .collect()
    };
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            Some(address) => {
                client = address;
                if !is_trusted(address) {
                    break;
                }
            }
            // Nothing trustworthy further left: the last trusted proxy is as far as we
            // can tell.
            None => break,
        }
    }
    Some(client)
}

/// The `for=` node of one `forwarded` element.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_node(value.trim().trim_matches('"')))?
    })
}

/// An address as proxies write it: `192.0.2.7`, `192.0.2.7:4711`, `[2001:db8::1]:4711`,
/// `2001:db8::1`. Obfuscated and `unknown` nodes are `None`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        let (address, _) = rest.split_once(']')?;
        return Ipv6Addr::from_str(address).ok().map(IpAddr::V6);
    }
    if let Ok(address) = IpAddr::from_str(node) {
        return Some(address.to_canonical());
    }
    let (address, _port) = node.rsplit_once(':')?;
    Ipv4Addr::from_str(address).ok().map(IpAddr::V4)
}

/// Works out every call's client address: see the module's documentation.
#[derive(Debug, Clone)]
pub struct ClientAddressLayer {
    trusted: Arc<[Cidr]>,
}

impl ClientAddressLayer {
    /// The layer, trusting the proxies in `trusted`.
    pub fn new(trusted: &[Cidr]) -> Self {
        Self {
            trusted: trusted.into(),
        }
    }
}

impl<S> Layer<S> for ClientAddressLayer {
    type Service = WithClientAddress<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WithClientAddress {
            inner,
            trusted: self.trusted.clone(),
        }
    }
}

/// The service [`ClientAddressLayer`] makes.
#[derive(Debug, Clone)]
pub struct WithClientAddress<S> {
    inner: S,
    trusted: Arc<[Cidr]>,
}

impl<S, B> Service<http::Request<B>> for WithClientAddress<S>
where
    S: Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let peer = request
            .extensions()
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr)
            .map(|address| address.ip());
        let client = resolve(peer, request.headers(), &self.trusted);
        request.extensions_mut().insert(ClientAddress(client));
        Box::pin(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(list: &str) -> Vec<Cidr> {
        list.split(',').map(|b| b.parse().unwrap()).collect()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn blocks_parse_and_contain_their_addresses() {
        let block: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(block.contains(ip("10.1.200.3")));
        assert!(block.contains(ip("::ffff:10.1.0.1")));
        assert!(!block.contains(ip("10.2.0.1")));
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::1")) && !v6.contains(ip("2001:db9::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn headers_count_only_when_the_peer_is_a_trusted_proxy() {
        let forged = headers(&[("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(
            resolve(Some(ip("203.0.113.9")), &forged, &[]),
            Some(ip("203.0.113.9"))
        );
        let trusted = blocks("10.0.0.0/8");
        assert_eq!(
            resolve(Some(ip("203.0.113.9")), &forged, &trusted),
            Some(ip("203.0.113.9")),
            "an untrusted peer's header"
        );
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &forged, &trusted),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(resolve(None, &forged, &trusted), None);
    }

    #[test]
    fn the_client_is_the_rightmost_hop_that_is_not_a_trusted_proxy() {
        let trusted = blocks("10.0.0.0/8,2001:db8::/32");
        let peer = Some(ip("10.0.0.2"));
        // The client forged the left entry; the first proxy appended the real address.
        let chain = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.1, 10.0.0.9")]);
        assert_eq!(resolve(peer, &chain, &trusted), Some(ip("198.51.100.1")));
        let split = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "198.51.100.1:5555"),
        ]);
        assert_eq!(resolve(peer, &split, &trusted), Some(ip("198.51.100.1")));
        let forwarded = headers(&[(
            "forwarded",
            r#"for=1.2.3.4, for="[2001:db8:cafe::17]:4711";proto=https, For="198.51.100.2""#,
        )]);
        assert_eq!(
            resolve(peer, &forwarded, &trusted),
            Some(ip("198.51.100.2"))
        );
        let through_v6 = headers(&[("forwarded", r#"for=198.51.100.3, for="[2001:db8::5]""#)]);
        assert_eq!(
            resolve(peer, &through_v6, &trusted),
            Some(ip("198.51.100.3"))
        );
        // An unreadable hop: the last trusted proxy is as far as anyone can tell.
        let hidden = headers(&[("forwarded", "for=198.51.100.4, for=_hidden, for=10.0.0.7")]);
        assert_eq!(resolve(peer, &hidden, &trusted), Some(ip("10.0.0.7")));
        // Only trusted hops: the leftmost.
        let internal = headers(&[("x-forwarded-for", "10.0.0.5")]);
        assert_eq!(resolve(peer, &internal, &trusted), Some(ip("10.0.0.5")));
        // No header at all.
        assert_eq!(
            resolve(peer, &http::HeaderMap::new(), &trusted),
            Some(ip("10.0.0.2"))
        );
    }
}
