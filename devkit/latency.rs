//! A TCP proxy on loopback that holds every chunk a client sends for a fixed time before
//! passing it on: the emulator answers in about a millisecond, AWS in tens, and only with such
//! latency do concurrent and sequential strategies differ as they do against AWS.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The running proxy; stopped on drop.
pub struct LatencyProxy {
    /// Loopback port clients connect to.
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl LatencyProxy {
    /// Proxies `127.0.0.1:PORT` to `127.0.0.1:upstream`, delaying each client chunk by `delay`.
    pub async fn start(upstream: u16, delay: Duration) -> LatencyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let port = listener.local_addr().expect("address").port();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, delay));
            }
        });
        LatencyProxy { port, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, upstream: u16, delay: Duration) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // A pipe with a constant delay: each chunk goes on `delay` after it arrived, so a request
    // sent in several chunks (headers, then its body) is delayed once, not once per chunk.
    let (chunks, mut delayed) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let read_side = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = client_read.read(&mut buf).await {
            if n == 0 || chunks.send((tokio::time::Instant::now(), buf[..n].to_vec())).is_err() {
                break;
            }
        }
    };
    let to_server = async move {
        while let Some((arrived, chunk)) = delayed.recv().await {
            tokio::time::sleep_until(arrived + delay).await;
            if server_write.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let to_client = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(read_side, to_server, to_client);
}
