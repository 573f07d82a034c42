// SPDX-License-Identifier: GPL-2.0

//! kselftest-style TAP output: `TAP version 13`, `1..N`, `ok`/`not ok` lines
//! and the `# Totals:` line the kselftest runner reads.

/// A test's outcome: `Err` carries what went wrong.
pub type Outcome = Result<(), String>;

/// A named test: the name printed on its result line, and its body.
pub type Test = (&'static str, fn() -> Outcome);

/// Fails the current test with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Runs `tests` in order, prints TAP, returns the exit status (0: all passed).
pub fn run(tests: &[Test]) -> i32 {
    println!("TAP version 13");
    println!("1..{}", tests.len());
    let mut failed = 0;
    for (i, (name, test)) in tests.iter().enumerate() {
        match test() {
            Ok(()) => println!("ok {} {name}", i + 1),
            Err(why) => {
                failed += 1;
                for line in why.lines() {
                    println!("# {line}");
                }
                println!("not ok {} {name}", i + 1);
            }
        }
    }
    println!(
        "# Totals: pass:{} fail:{} xfail:0 xpass:0 skip:0 error:0",
        tests.len() - failed,
        failed
    );
    i32::from(failed != 0)
}
