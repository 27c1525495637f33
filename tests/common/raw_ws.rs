//! A WebSocket client written by hand over TLS, for what a library client will not do: leave the
//! server's pings unanswered, announce a frame and never finish it, trickle bytes.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

use super::{ClientTls, handshake};

pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;

/// Its halves, to read and write at the same time.
pub struct RawSocket {
    pub reader: FrameReader,
    pub writer: FrameWriter,
}

pub struct FrameReader {
    read: ReadHalf<ClientTls>,
    /// Bytes read past what has been parsed.
    buffered: Vec<u8>,
}

pub struct FrameWriter {
    write: WriteHalf<ClientTls>,
}

/// A frame from the server: its opcode and payload.
#[derive(Debug)]
pub struct Frame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// A close frame's code and reason.
    pub fn close(&self) -> Option<(u16, String)> {
        if self.opcode != CLOSE || self.payload.len() < 2 {
            return None;
        }
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        Some((code, String::from_utf8_lossy(&self.payload[2..]).into_owned()))
    }
}

impl RawSocket {
    /// Upgrades `path` (with its query) to a WebSocket, sending `headers` too; an error unless the
    /// server answers 101.
    pub async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> std::io::Result<RawSocket> {
        let (mut tls, _) = handshake(addr, &[b"http/1.1"]).await?;
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
            addr.port()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        tls.write_all(request.as_bytes()).await?;
        let (read, write) = tokio::io::split(tls);
        let mut socket = FrameReader { read, buffered: Vec::new() };
        let end = loop {
            if let Some(at) = socket.buffered.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if !socket.fill().await? {
                return Err(std::io::Error::other("closed before answering the upgrade"));
            }
        };
        let head = String::from_utf8_lossy(&socket.buffered[..end]).into_owned();
        socket.buffered.drain(..end);
        if !head.starts_with("HTTP/1.1 101") {
            return Err(std::io::Error::other(format!("not upgraded: {head}")));
        }
        Ok(RawSocket { reader: socket, writer: FrameWriter { write } })
    }

    pub async fn next_frame(&mut self) -> std::io::Result<Option<Frame>> {
        self.reader.next_frame().await
    }

    pub async fn start_frame(&mut self, opcode: u8, length: u64) -> std::io::Result<()> {
        self.writer.start_frame(opcode, length).await
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.send_raw(bytes).await
    }
}

impl FrameReader {
    /// Reads more bytes; false at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 4096];
        let read = self.read.read(&mut chunk).await?;
        self.buffered.extend_from_slice(&chunk[..read]);
        Ok(read > 0)
    }

    /// The next frame the server sends (never answering a ping), `None` at the end of the stream.
    pub async fn next_frame(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            if let Some((frame, used)) = parse(&self.buffered) {
                self.buffered.drain(..used);
                return Ok(Some(frame));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }
}

impl FrameWriter {
    /// The frame header a client sends (masked) for a frame of `length` bytes, without them.
    pub async fn start_frame(&mut self, opcode: u8, length: u64) -> std::io::Result<()> {
        let mut header = vec![0x80 | opcode];
        match length {
            0..=125 => header.push(0x80 | length as u8),
            126..=0xFFFF => {
                header.push(0x80 | 126);
                header.extend_from_slice(&(length as u16).to_be_bytes());
            }
            _ => {
                header.push(0x80 | 127);
                header.extend_from_slice(&length.to_be_bytes());
            }
        }
        header.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]);
        self.send_raw(&header).await
    }

    /// Bytes as they are (a frame's payload after `start_frame`).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write.write_all(bytes).await?;
        self.write.flush().await
    }
}

/// One whole unmasked server frame at the start of `bytes`, and how many bytes it took.
fn parse(bytes: &[u8]) -> Option<(Frame, usize)> {
    let (first, second) = (*bytes.first()?, *bytes.get(1)?);
    let (length, start) = match second & 0x7F {
        126 => (u64::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?])), 4),
        127 => (u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?), 10),
        short => (u64::from(short), 2),
    };
    let end = start + usize::try_from(length).ok()?;
    let payload = bytes.get(start..end)?.to_vec();
    Some((Frame { opcode: first & 0x0F, payload }, end))
}
