use std::path::Path;
use text_clean::{Format, ParseError, Speaker, detect_format, parse_bytes, parse_path};

fn syntax_line(e: ParseError) -> (usize, String) {
    match e {
        ParseError::Syntax { line, reason } => (line, reason),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn daic_basic_with_header_crlf_and_trailing_tabs() {
    let data = b"start_time\tstop_time\tspeaker\tvalue\r\n36.588\t39.668\tEllie\thi i'm ellie thanks for coming in today\r\n62.328\t63.178\tParticipant\tgood\t\t\r\n64.0\t64.5\tParticipant\t\r\n";
    let t = parse_bytes(data, Some(Format::Daic)).unwrap();
    assert_eq!(t.utterances.len(), 3);
    assert_eq!(t.utterances[0].speaker, Speaker::Interviewer);
    assert_eq!(t.utterances[0].start_s, Some(36.588));
    assert_eq!(t.utterances[0].end_s, Some(39.668));
    assert_eq!(t.utterances[1].speaker, Speaker::Participant);
    assert_eq!(t.utterances[1].text, "good");
    assert_eq!(t.utterances[2].text, "", "empty values are kept, not dropped");
}

#[test]
fn daic_without_header() {
    let t = parse_bytes(b"1\t2\tEllie\thello\n2.5\t3\tParticipant\thi\n", Some(Format::Daic)).unwrap();
    assert_eq!(t.utterances.len(), 2);
}

#[test]
fn daic_errors_have_line_numbers() {
    let (line, reason) = syntax_line(
        parse_bytes(b"start_time\tstop_time\tspeaker\tvalue\n1\t2\tEllie\thi\nabc\t3\tEllie\tx\n", Some(Format::Daic))
            .unwrap_err(),
    );
    assert_eq!(line, 3);
    assert!(reason.contains("start_time `abc` is not a number"), "{reason}");

    let (line, reason) = syntax_line(parse_bytes(b"5\t4\tEllie\thi\n", Some(Format::Daic)).unwrap_err());
    assert_eq!(line, 1);
    assert!(reason.contains("before"), "{reason}");

    let (line, reason) = syntax_line(parse_bytes(b"1\t2\tEllie\thi\n1\t2\tEllie\n", Some(Format::Daic)).unwrap_err());
    assert_eq!(line, 2);
    assert!(reason.contains("found 3"), "{reason}");

    let (line, _) = syntax_line(parse_bytes(b"1\t2\tEllie\thi\tthere\textra\n", Some(Format::Daic)).unwrap_err());
    assert_eq!(line, 1);

    let (line, _) = syntax_line(parse_bytes(b"1\tNaN\tEllie\thi\n", Some(Format::Daic)).unwrap_err());
    assert_eq!(line, 1);

    let err = parse_bytes(b"1\t2\tEllie\thi\n3\t4\tEllie\t\xff\xfe\n", Some(Format::Daic)).unwrap_err();
    assert!(matches!(err, ParseError::InvalidUtf8 { line: 2 }), "{err:?}");
    assert_eq!(err.to_string(), "line 2: text is not valid UTF-8");
}

#[test]
fn plain_speakers_and_continuations() {
    let t = parse_bytes(
        b"Interviewer: How have you been sleeping?\nPatient: Not great.\nI wake up at four.\n\nDr Smith: I see.\n",
        Some(Format::Plain),
    )
    .unwrap();
    assert_eq!(t.utterances.len(), 3);
    assert_eq!(t.utterances[1].speaker, Speaker::Participant);
    assert_eq!(t.utterances[1].text, "Not great. I wake up at four.");
    assert_eq!(t.utterances[2].speaker, Speaker::Other("Dr Smith".into()));
    assert_eq!(t.utterances[0].start_s, None);
    let (line, _) = syntax_line(parse_bytes(b"\nno speaker here\n", Some(Format::Plain)).unwrap_err());
    assert_eq!(line, 2);
}

#[test]
fn webvtt_voice_tags_prefixes_and_times() {
    let vtt = "WEBVTT - interview\n\nNOTE this is a note\n\n1\n00:00:01.000 --> 00:00:03.500 align:start\n<v Ellie>How are you?</v>\n\n00:03.600 --> 00:06.000\n<v Participant>Um, <i>fine</i>.\n<v Ellie>Good.\n\n00:00:06.500 --> 00:00:08.000\nParticipant: <laughter> yes\n";
    let t = parse_bytes(vtt.as_bytes(), None).unwrap();
    assert_eq!(t.utterances.len(), 4);
    assert_eq!(t.utterances[0].speaker, Speaker::Interviewer);
    assert_eq!((t.utterances[0].start_s, t.utterances[0].end_s), (Some(1.0), Some(3.5)));
    assert_eq!(t.utterances[1].text, "Um, fine.");
    assert_eq!(t.utterances[1].start_s, Some(3.6));
    assert_eq!(t.utterances[2].speaker, Speaker::Interviewer);
    assert_eq!(t.utterances[3].speaker, Speaker::Participant);
    assert_eq!(t.utterances[3].text, "<laughter> yes");
}

#[test]
fn webvtt_errors() {
    let (line, reason) =
        syntax_line(parse_bytes(b"WEBVTT\n\n00:00:05.000 --> 00:00:04.000\nhi\n", Some(Format::Vtt)).unwrap_err());
    assert_eq!(line, 3);
    assert!(reason.contains("before it starts"));
    let (line, _) =
        syntax_line(parse_bytes(b"WEBVTT\n\n00:00:0x.000 --> 00:00:04.000\nhi\n", Some(Format::Vtt)).unwrap_err());
    assert_eq!(line, 3);
    let (line, _) = syntax_line(parse_bytes(b"hello\n\n", Some(Format::Vtt)).unwrap_err());
    assert_eq!(line, 1);
}

#[test]
fn srt_cues() {
    let srt = "1\r\n00:00:01,000 --> 00:00:02,000\r\nEllie: hi there\r\n\r\n2\r\n00:00:02,500 --> 00:00:04,250\r\n<i>Participant: hello</i>\r\nsecond line\r\n";
    let t = parse_bytes(srt.as_bytes(), None).unwrap();
    assert_eq!(t.utterances.len(), 2);
    assert_eq!(t.utterances[0].speaker, Speaker::Interviewer);
    assert_eq!(t.utterances[1].text, "hello second line");
    assert_eq!(t.utterances[1].end_s, Some(4.25));
    let (line, _) = syntax_line(parse_bytes(b"1\n00:00:01,000 -> 00:00:02,000\nx\n", Some(Format::Srt)).unwrap_err());
    assert_eq!(line, 1);
    let (line, _) =
        syntax_line(parse_bytes(b"one\n00:00:01,000 --> 00:00:02,000\nx\n", Some(Format::Srt)).unwrap_err());
    assert_eq!(line, 1);
}

#[test]
fn format_detection_by_content_then_extension() {
    assert_eq!(detect_format(b"\xEF\xBB\xBFWEBVTT\n", None), Format::Vtt);
    assert_eq!(detect_format(b"1\n00:00:01,000 --> 00:00:02,000\nx", None), Format::Srt);
    assert_eq!(detect_format(b"start_time\tstop_time\tspeaker\tvalue\n", None), Format::Daic);
    assert_eq!(detect_format(b"0.5\t1.5\tEllie\thi\n", Some(Path::new("a.txt"))), Format::Daic);
    assert_eq!(detect_format(b"Ellie: hi\n", None), Format::Plain);
    assert_eq!(detect_format(b"", Some(Path::new("x.srt"))), Format::Srt);
    assert_eq!(detect_format(b"", Some(Path::new("x.VTT"))), Format::Vtt);
    assert_eq!(detect_format(b"", Some(Path::new("300_TRANSCRIPT.csv"))), Format::Daic);
}

#[test]
fn streaming_reader_yields_rows_before_a_later_error() {
    let data: &[u8] = b"1\t2\tEllie\thi\n2\t3\tParticipant\tyo\nbad\n";
    let mut rows = text_clean::DaicReader::new(data);
    assert!(rows.next().unwrap().is_ok());
    assert!(rows.next().unwrap().is_ok());
    assert!(rows.next().unwrap().is_err());
    assert!(rows.next().is_none());
}

#[test]
fn bundled_sample_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/sample_TRANSCRIPT.csv");
    let t = parse_path(&path, None).unwrap();
    assert!(t.utterances.len() >= 20);
    assert!(t.utterances.iter().any(|u| u.speaker == Speaker::Participant));
}
