//! The whatsapi reference server.

fn main() {
    eprintln!("whatsapi-server: the HTTP server is not built yet");
    std::process::exit(1);
}
