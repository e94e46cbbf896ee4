//! An Arrow IPC stream file as `recover` and Review meet it: the message
//! walk, the decoding scan, then the repair and a walk of what it left.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tacit_session::ipc;

fuzz_target!(|bytes: &[u8]| {
    // arrow-rs panics on some damaged buffer layouts; `ipc::next_batch`
    // catches those and reports the file as damaged. libFuzzer's hook
    // would abort on the caught panic, so arrow's own panics are let
    // unwind: one the product does not catch still aborts, at the C
    // boundary of the fuzzer, and is reported as a crash.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.location().is_some_and(|l| l.file().contains("/arrow-")) {
                abort(info);
            }
        }));
    });
    let dir = tacit_fuzz::folder_with("ipc", "sensor-a.arrows", bytes);
    let file = dir.join("sensor-a.arrows");
    let walked = ipc::messages(&file);
    let mut rows = 0usize;
    let scanned = ipc::scan(&file, |b| rows += b.num_rows());
    if let Ok(cut) = ipc::repair(&file) {
        // What the repair keeps decodes whole and ends as a finished
        // stream, unless its schema does not decode (left alone).
        let after = ipc::scan(&file, |_| {}).expect("a repaired file scans");
        assert!(after.finished || after.good_len == 0, "repaired ({cut} bytes cut), yet not finished: {:?}", after.error);
        let mut again = 0usize;
        ipc::scan(&file, |b| again += b.num_rows()).expect("a repaired file scans");
        if scanned.is_ok() {
            assert_eq!(again, rows, "the repair lost rows the scan read");
        }
    }
    let _ = walked;
});
