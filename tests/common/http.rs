//! The HTTP/1.1 both ways of the key-service test servers (one request per connection, as
//! the clients under test send them): read a request, write a JSON (or any) answer; and a
//! static file server, which is what Git's "dumb" HTTP transport needs.

use std::collections::HashMap;
use std::io::{BufRead, Write};

/// One request.
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// Read one request; `None` when the connection ends first (a failed TLS handshake, say).
pub fn read_request(r: &mut impl BufRead) -> Option<Request> {
    let mut request_line = String::new();
    r.read_line(&mut request_line).ok()?;
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    Some(Request { method, path, headers, body })
}

/// Write a JSON answer and close.
pub fn write_json(w: &mut impl Write, status: u16, body: &serde_json::Value) {
    write_body(w, status, "application/json", body.to_string().as_bytes());
}

/// Write an answer of any type and close.
pub fn write_body(w: &mut impl Write, status: u16, content_type: &str, body: &[u8]) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        412 => "Precondition Failed",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let _ = write!(
        w,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = w.write_all(body);
    let _ = w.flush();
}

/// Serve the files under `dir` over HTTP on loopback until the test process ends (one
/// thread): GET of a path answers the file's bytes, anything else 404. A bare repository
/// after `git update-server-info` is then clonable with Git's dumb HTTP transport, which
/// is what `git-remote-http` speaks when the server is not a smart Git server.
pub fn serve_files(dir: std::path::PathBuf) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(&conn);
            let Some(req) = read_request(&mut reader) else { continue };
            let path = req.path.split('?').next().unwrap_or("").trim_start_matches('/').to_string();
            let file = dir.join(&path);
            let mut w = &conn;
            match std::fs::read(&file) {
                Ok(bytes) if req.method == "GET" && !path.contains("..") && file.is_file() => {
                    write_body(&mut w, 200, "application/octet-stream", &bytes)
                }
                _ => write_body(&mut w, 404, "text/plain", b"not found"),
            }
        }
    });
    addr
}
