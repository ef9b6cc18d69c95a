//! gRPC on the wire, for h2load: a request body is the protobuf message in one
//! length-prefixed frame (a compression flag byte, 0, then the length as four big-endian
//! bytes). [`call`] sends the same message bytes through tonic first, to learn the
//! answer's status and size before h2load, which sees neither trailers nor bodies,
//! sends it thousands of times.

use prost::{
    Message,
    bytes::{Buf, BufMut},
};
use tessera_client::tonic::{
    self, Request, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
    transport::Channel,
};

/// `message` as one uncompressed gRPC frame.
pub fn frame(message: &impl Message) -> Vec<u8> {
    let body = message.encode_to_vec();
    let length = u32::try_from(body.len()).expect("a request message is far below 4 GiB");
    let mut framed = Vec::with_capacity(5 + body.len());
    framed.push(0);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(&body);
    framed
}

/// The message bytes of one uncompressed gRPC frame; `None` if `framed` is not exactly
/// one.
pub fn unframe(framed: &[u8]) -> Option<&[u8]> {
    let (header, body) = framed.split_at_checked(5)?;
    let length = u32::from_be_bytes(header[1..5].try_into().ok()?) as usize;
    (header[0] == 0 && body.len() == length).then_some(body)
}

/// Passes message bytes through unchanged: tonic adds and strips the frame.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// Calls `path` with the message bytes of `framed` (and `authorization: Bearer token`),
/// returning the answer's message bytes.
pub async fn call(
    channel: &Channel,
    path: &'static str,
    token: Option<&str>,
    framed: &[u8],
) -> Result<Vec<u8>, Status> {
    let body = unframe(framed)
        .ok_or_else(|| Status::internal("not one gRPC frame"))?
        .to_vec();
    let request = match token {
        Some(token) => tessera_client::with_token(token, body),
        None => Request::new(body),
    };
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let answer = grpc
        .unary(request, PathAndQuery::from_static(path), RawCodec)
        .await?;
    Ok(answer.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_client::pb;

    #[test]
    fn a_frame_is_a_zero_flag_a_big_endian_length_and_the_message() {
        let message = pb::GetSubscriptionRequest {
            name: "subscriptions/0190f0c8-0000-7000-8000-000000000000".to_owned(),
        };
        let framed = frame(&message);
        let body = message.encode_to_vec();
        assert_eq!(framed[0], 0);
        assert_eq!(&framed[1..5], &(body.len() as u32).to_be_bytes());
        assert_eq!(&framed[5..], body.as_slice());
        assert_eq!(unframe(&framed), Some(body.as_slice()));
        let decoded = pb::GetSubscriptionRequest::decode(unframe(&framed).unwrap()).unwrap();
        assert_eq!(decoded, message);
    }

    #[test]
    fn an_empty_message_is_a_bare_header_and_bad_frames_are_refused() {
        assert_eq!(frame(&pb::ListPlansRequest {}), [0, 0, 0, 0, 0]);
        assert_eq!(unframe(&[0, 0, 0, 0, 0]), Some(&[][..]));
        assert_eq!(unframe(&[0, 0, 0, 0, 2, 1]), None, "short body");
        assert_eq!(unframe(&[1, 0, 0, 0, 0]), None, "compressed");
        assert_eq!(unframe(&[0, 0, 0]), None, "short header");
    }
}
