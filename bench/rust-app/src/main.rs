//! A small program whose only job is to carry real dependencies into a binary
//! built with cargo-auditable, for the benchmark image.
use serde::Serialize;

#[derive(Serialize)]
struct Greeting<'a> {
    message: &'a str,
    words: smallvec::SmallVec<[&'a str; 4]>,
    year: i32,
}

fn main() {
    let message = "hello from the shipshape benchmark image";
    let word = regex::Regex::new(r"\w+").expect("static regex");
    let words = word.find_iter(message).map(|m| m.as_str()).collect();
    let year = time::OffsetDateTime::now_utc().year();
    let greeting = Greeting { message, words, year };
    println!("{}", serde_json::to_string(&greeting).expect("serializable"));
}
