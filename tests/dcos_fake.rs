//! The fake DC/OS behaves like the reference says, and the DC/OS client reads it.

mod support;

use std::time::Duration;

use support::dcos::{FakeDcos, FakeOptions};

#[test]
fn smoke() {
    let fake = FakeDcos::start(FakeOptions::default());
    fake.put_keys("k", 10);
    fake.assert_keys_on(&fake.endpoint("etcd-1"), "k", 10);
    let _ = Duration::from_secs(1);
}
