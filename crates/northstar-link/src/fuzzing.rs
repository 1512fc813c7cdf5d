//! Entry point shared by the cargo-fuzz target `link_decoder` and the stable test that replays
//! the committed seeds (`fuzz/seeds/link_decoder/`), so both run the same code.

use northstar_core::record::decode_record;

use crate::decoder::{Decoder, Item};

/// Feeds `data` to a decoder in two pieces (split where the first byte says, so streaming is
/// exercised), then byte by byte to a second decoder. Panics only on a broken invariant: a
/// record that fails the core's checks, or two decoders that disagree.
pub fn link_decoder(data: &[u8]) {
    let split = data
        .first()
        .map_or(0, |&b| usize::from(b) * 7)
        .min(data.len());
    let mut whole = Vec::new();
    let mut a = Decoder::new(None, None, 1_700_000_000_000_000_000);
    let mut collect = |item: Item| {
        if let Item::Record(bytes) = &item {
            let view = decode_record(bytes).expect("a rebuilt record is a valid core record");
            view.event().expect("its payload decodes");
        }
        whole.push(item);
    };
    a.feed(&data[..split], &mut collect);
    a.feed(&data[split..], &mut collect);
    let mut b = Decoder::new(None, None, 1_700_000_000_000_000_000);
    let mut bytewise = Vec::new();
    for byte in data {
        b.feed(core::slice::from_ref(byte), &mut |item| bytewise.push(item));
    }
    assert_eq!(whole, bytewise, "chunking changed the decoding");
    assert_eq!(a.stats(), b.stats());
    assert_eq!(a.pending(), b.pending());
}
