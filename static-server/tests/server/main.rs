//! Integration tests of `static-server` over real sockets: every request is written
//! raw to a `TcpStream`, so no client library normalises paths or headers.

mod conditional;
mod cors;
mod headers;
mod limits;
mod ranges;
mod requests;
mod shutdown;
mod spa;
mod support;
mod traversal;
