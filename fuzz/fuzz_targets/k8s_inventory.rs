#![no_main]

// Hostile cluster input: an imageID, a pod object as the API server would send it, and an
// agent message. None of them may panic; a parsed pod always assembles into an inventory.
use k8s::objects::PodObject;
use k8s::store::{ClusterStore, pod_record};
use kube::runtime::watcher::Event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = k8s::parse_image_id(text);
        let _ = k8s::normalize_reference(text);
    }
    let _ = k8s::wire::decode(data);
    if let Ok(pod) = serde_json::from_slice::<PodObject>(data) {
        let mut store = ClusterStore::default();
        store.pods.apply(Event::Apply(pod_record(pod)));
        let inventory = k8s::assemble(
            "fuzz",
            &store,
            k8s::ClusterStatus::Ok,
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert!(inventory.workloads.len() <= 1);
    }
});
