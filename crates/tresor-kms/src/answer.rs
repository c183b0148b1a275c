//! Reading what a key service answered to an encrypt or decrypt: the same two steps for
//! every REST service (Scaleway, STACKIT, Huawei/OTC, OVHcloud), with the same errors.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::KmsError;

/// The non-empty ciphertext in `field` of an encrypt answer.
pub(crate) fn ciphertext(v: &Value, service: &'static str, field: &str) -> Result<String, KmsError> {
    v.get(field)
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .ok_or_else(|| KmsError::Protocol { service, why: format!("the response has no {field}") })
}

/// The base64 plaintext in `field` of a decrypt answer, decoded; both copies wiped on drop.
pub(crate) fn plaintext(v: &Value, service: &'static str, field: &str) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let text = v
        .get(field)
        .and_then(Value::as_str)
        .map(|p| Zeroizing::new(p.to_string()))
        .ok_or_else(|| KmsError::Protocol { service, why: format!("the response has no {field}") })?;
    decode(&text, service)
}

/// Base64 plaintext decoded (wiped on drop).
pub(crate) fn decode(b64: &str, service: &'static str) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    B64.decode(b64.as_bytes()).map(Zeroizing::new).map_err(|e| KmsError::Protocol { service, why: e.to_string() })
}
