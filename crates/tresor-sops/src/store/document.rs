//! YAML and JSON: lossless document stores over `tresor_format`'s trees (the splicing
//! encryptor and decryptor in [`crate::file`]).

use std::io::Write;

use serde_json::Value as J;
use tresor_format::Format;
use zeroize::Zeroizing;

use super::{utf8, Plain, Store, Streamed};
use crate::cipher::DataKey;
use crate::convert;
use crate::error::SopsError;
use crate::file::{self, DecryptOptions, EncryptOptions, EncryptedFile};
use crate::metadata::Metadata;
use crate::verify::Verification;

/// A store backed by one of the document formats.
pub struct Document {
    format: Format,
}

pub static YAML: Document = Document { format: Format::Yaml };
pub static JSON: Document = Document { format: Format::Json };

impl Document {
    fn text<'a>(&self, src: &'a [u8]) -> Result<&'a str, SopsError> {
        utf8(src, self.name())
    }

    /// YAML as sops and tresor write it: the metadata read from the end of the file and
    /// where it starts, without parsing the values.
    fn yaml_tail(&self, src: &str) -> Option<(Metadata, usize)> {
        (self.format == Format::Yaml).then(|| file::yaml_metadata_fast(src)).flatten()
    }
}

impl Store for Document {
    fn name(&self) -> &'static str {
        self.format.name()
    }

    fn document_format(&self) -> Option<Format> {
        Some(self.format)
    }

    fn metadata(&self, src: &[u8]) -> Result<Metadata, SopsError> {
        let text = self.text(src)?;
        if let Some((meta, _)) = self.yaml_tail(text) {
            return Ok(meta);
        }
        Ok(EncryptedFile::parse(text, self.format)?.metadata)
    }

    fn encrypt(
        &self,
        plain: &[u8],
        key: &DataKey,
        meta: Metadata,
        opts: &EncryptOptions,
    ) -> Result<Vec<u8>, SopsError> {
        Ok(file::encrypt(self.text(plain)?, self.format, key, meta, opts)?.into_bytes())
    }

    fn encrypt_to(
        &self,
        plain: &[u8],
        key: &DataKey,
        meta: Metadata,
        opts: &EncryptOptions,
        out: &mut dyn Write,
    ) -> Result<Verification, SopsError> {
        file::encrypt_to(self.text(plain)?, self.format, key, meta, opts, out)
    }

    fn decrypt(&self, src: &[u8], meta: &Metadata, key: &DataKey, opts: DecryptOptions) -> Result<Plain, SopsError> {
        let text = self.text(src)?;
        // Values decrypted while parsing, no document tree held whole.
        if let Some((_, at)) = self.yaml_tail(text) {
            if let Some(d) = file::decrypt_yaml_stream(text, meta, at, key, opts)? {
                return Ok(Plain { bytes: Zeroizing::new(d.text.into_bytes()), stash: d.stash, warnings: d.warnings });
            }
        }
        let d = EncryptedFile::parse(text, self.format)?.decrypt(key, opts)?;
        Ok(Plain { bytes: Zeroizing::new(d.text.into_bytes()), stash: d.stash, warnings: d.warnings })
    }

    fn decrypt_to(
        &self,
        src: &[u8],
        meta: &Metadata,
        key: &DataKey,
        opts: DecryptOptions,
        out: &mut dyn Write,
    ) -> Result<Option<Streamed>, SopsError> {
        let text = self.text(src)?;
        let Some((_, at)) = self.yaml_tail(text) else { return Ok(None) };
        Ok(file::decrypt_yaml_to(text, meta, at, key, opts, out)?
            .map(|d| Streamed { warnings: d.warnings, verification: d.verification }))
    }

    fn data(&self, plain: &[u8]) -> Result<J, SopsError> {
        let docs = tresor_format::parse(self.text(plain)?, self.format)?;
        convert::document_data(docs.first().ok_or(SopsError::NoDocument)?)
    }

    fn emit(&self, data: &J) -> Result<Vec<u8>, SopsError> {
        Ok(match self.format {
            Format::Json => convert::to_json(data),
            Format::Yaml => convert::to_yaml(data),
        }
        .into_bytes())
    }

    fn replace_metadata(&self, src: &[u8], meta: &Metadata) -> Result<Vec<u8>, SopsError> {
        Ok(file::replace_metadata(self.text(src)?, self.format, meta)?.into_bytes())
    }

    fn template(&self) -> &'static str {
        match self.format {
            Format::Yaml => {
                "# Write your secrets here; values are encrypted when you save and quit.\nexample_key: example_value\n"
            }
            Format::Json => "{\n\t\"example_key\": \"example_value\"\n}\n",
        }
    }

    fn flux_marker(&self) -> Option<&'static str> {
        Some(match self.format {
            Format::Yaml => "mac: ENC[",
            Format::Json => "\"mac\": \"ENC[",
        })
    }
}
