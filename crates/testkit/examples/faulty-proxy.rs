//! The test kit's fault-injecting proxy as a program, for `bench/push.sh`: prints its address,
//! forwards to UPSTREAM until the file STOP exists, then prints what it saw and exits.
//! Usage: faulty-proxy UPSTREAM PERCENT SEED STOP

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::atomic::Ordering;

use testkit::proxy::{Fault, FaultyProxy, Plan};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (upstream, percent, seed) = (
        args[1].clone(),
        args[2].parse().unwrap(),
        args[3].parse().unwrap(),
    );
    let faults = vec![
        Fault::ServerError,
        Fault::TooMany,
        Fault::Reset,
        Fault::Truncate,
    ];
    let proxy = FaultyProxy::start(&upstream, Plan::Random { percent, seed }, faults);
    println!("{}", proxy.addr);
    let stop = std::path::PathBuf::from(&args[4]);
    while !stop.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let s = &proxy.stats;
    println!(
        "requests {} faults {} upload_bytes {}",
        s.requests.load(Ordering::Relaxed),
        s.faults.load(Ordering::Relaxed),
        s.upload_bytes.load(Ordering::Relaxed)
    );
}
