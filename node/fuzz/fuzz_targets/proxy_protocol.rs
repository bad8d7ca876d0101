//! PROXY protocol headers (`tls::proxy_protocol::parse`, `read_header`): any bytes give a
//! source address, "no client" or an error, never a panic; the streaming reader, fed the same
//! bytes, reads exactly one header and agrees with the pure parser on every complete header;
//! a v1 header that parses names the address written in it.
#![no_main]

use std::net::SocketAddr;

use ass_node::tls::proxy_protocol::{parse, read_header, V1_MAX};
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncReadExt;

fuzz_target!(|data: &[u8]| {
    let parsed = parse(data);
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let (streamed, rest) = rt.block_on(async {
        let mut stream = data;
        let r = read_header(&mut stream).await;
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.expect("in-memory read");
        (r, rest)
    });
    if let Ok(source) = &parsed {
        // The whole input is one header: the reader takes all of it and gives the same answer.
        match &streamed {
            Ok(s) => assert_eq!(s, source, "streamed and parsed headers disagree"),
            Err(e) => panic!("parse accepted the header, read_header refused it: {e}"),
        }
        assert!(rest.is_empty(), "read_header left {} bytes of a complete header", rest.len());
        if data.starts_with(b"PROXY ") {
            assert!(data.len() <= V1_MAX && data.ends_with(b"\r\n"));
            let line = std::str::from_utf8(data).expect("a v1 header is text");
            let words: Vec<&str> = line.trim_end().split(' ').collect();
            if let Some(s) = source {
                let ip: std::net::IpAddr = words[2].parse().expect("v1 source address");
                let port: u16 = words[4].parse().expect("v1 source port");
                assert_eq!(*s, SocketAddr::new(ip, port));
            } else {
                assert_eq!(words[1], "UNKNOWN");
            }
        }
    }
    if let Ok(source) = &streamed {
        // What the reader took is itself a header the parser accepts.
        let taken = &data[..data.len() - rest.len()];
        assert_eq!(
            parse(taken).as_ref().ok(),
            Some(source),
            "reader and parser disagree on {taken:?}"
        );
    }
});
