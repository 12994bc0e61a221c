//! Any RPC with any bytes: a pass-through codec, and the byte-level builders of hostile messages
//! (protobuf concatenation appends to repeated fields; unknown fields are skipped by the decoder
//! but still count against the decode cap).

use identity_testkit::with_auth;
use prost::bytes::{Buf as _, BufMut as _};
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::Channel,
};

/// Sends encoded bytes, returns the encoded response.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawCodec;

#[derive(Debug)]
pub(crate) struct RawEncoder;

#[derive(Debug)]
pub(crate) struct RawDecoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// Call `rpc` (`identity.v1.UserService/CreateUser`) with `body` and, when given, a bearer
/// credential; the encoded response.
pub(crate) async fn call(
    channel: &Channel,
    rpc: &str,
    body: Vec<u8>,
    credential: Option<&str>,
) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("not ready: {e}")))?;
    let path = http::uri::PathAndQuery::try_from(format!("/{rpc}"))
        .map_err(|e| Status::internal(format!("bad path {rpc}: {e}")))?;
    let request = match credential {
        Some(c) => with_auth(body, c),
        None => tonic::Request::new(body),
    };
    grpc.unary(request, path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

fn varint(mut v: usize, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(u8::try_from(v & 0x7f).unwrap_or(0) | 0x80);
        v >>= 7;
    }
    out.push(u8::try_from(v).unwrap_or(0));
}

fn varint_len(v: usize) -> usize {
    let mut out = Vec::new();
    varint(v, &mut out);
    out.len()
}

/// An unknown field number, far above every field of `identity.v1`.
const UNKNOWN_FIELD: usize = 1000;

/// `message` followed by one unknown length-delimited field, `total` bytes in all (at least
/// the message and the field's header).
pub(crate) fn pad_to(message: &[u8], total: usize) -> Vec<u8> {
    let tag = (UNKNOWN_FIELD << 3) | 2;
    let room = total.saturating_sub(message.len() + varint_len(tag));
    // The length prefix takes some of the room (one byte short when no length fits exactly).
    let mut len = room.saturating_sub(varint_len(room));
    while len + 1 + varint_len(len + 1) <= room {
        len += 1;
    }
    while len > 0 && len + varint_len(len) > room {
        len -= 1;
    }
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(message);
    varint(tag, &mut out);
    varint(len, &mut out);
    out.resize(out.len() + len, 0);
    out
}

/// `message` with empty strings appended to the repeated field at `path` (field numbers, outer
/// first: `[3, 1]` is `update_mask.paths`) until it is as close to `cap` bytes as they allow.
pub(crate) fn fill_repeated(message: &[u8], path: &[u32], cap: usize) -> Vec<u8> {
    let Some((&leaf, outer)) = path.split_last() else {
        return message.to_vec();
    };
    let entry = [u8::try_from((leaf << 3) | 2).unwrap_or(0), 0];
    let wrap = |n: usize| {
        let mut inner = entry.repeat(n);
        for &f in outer.iter().rev() {
            let mut w = Vec::new();
            varint(usize::try_from((f << 3) | 2).unwrap_or(0), &mut w);
            varint(inner.len(), &mut w);
            w.extend_from_slice(&inner);
            inner = w;
        }
        inner
    };
    let mut n = cap.saturating_sub(message.len()) / 2;
    loop {
        let extra = wrap(n);
        if message.len() + extra.len() <= cap || n == 0 {
            let mut out = message.to_vec();
            out.extend_from_slice(&extra);
            return out;
        }
        n = n.saturating_sub(1 + (message.len() + extra.len() - cap) / 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_api::pb;
    use prost::Message as _;

    #[test]
    fn padding_hits_the_size_and_decodes() {
        let m = pb::LoginRequest {
            identifier: "a".to_owned(),
            password: "b".to_owned(),
        }
        .encode_to_vec();
        for total in [m.len() + 3, 200, 1_000, 16_384, 69_632, 69_633] {
            let p = pad_to(&m, total);
            assert!(
                p.len() <= total && p.len() + 1 >= total,
                "{} for {total}",
                p.len()
            );
            let d = pb::LoginRequest::decode(p.as_slice()).unwrap_or_default();
            assert_eq!(d.identifier, "a");
        }
    }

    #[test]
    fn filling_appends_to_the_list() {
        let m = pb::UpdateUserRequest {
            user_id: 7,
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["email".to_owned()],
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let f = fill_repeated(&m, &[3, 1], 10_000);
        assert!(f.len() <= 10_000 && f.len() > 9_990, "{}", f.len());
        let d = pb::UpdateUserRequest::decode(f.as_slice()).unwrap_or_default();
        let paths = d.update_mask.unwrap_or_default().paths;
        assert_eq!(paths[0], "email");
        assert!(paths.len() > 4_900, "{}", paths.len());
        let s = fill_repeated(
            &pb::CreateApiKeyRequest::default().encode_to_vec(),
            &[5],
            4_000,
        );
        assert_eq!(
            pb::CreateApiKeyRequest::decode(s.as_slice())
                .unwrap_or_default()
                .scopes
                .len(),
            2_000
        );
    }
}
