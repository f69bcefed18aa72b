//! Small things pages say: how long ago, which device.

/// "just now", "5 minutes ago", "3 hours ago", "2 days ago".
pub(crate) fn ago(now: i64, then: i64) -> String {
    let s = (now - then).max(0);
    let (n, unit) = match s {
        0..60 => return "just now".to_owned(),
        60..3600 => (s / 60, "minute"),
        3600..86400 => (s / 3600, "hour"),
        _ => (s / 86400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// "Firefox on Linux" from a User-Agent, or "Unknown device".
pub(crate) fn device(ua: &str) -> String {
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else {
        ""
    };
    let os = if ua.contains("iPhone") {
        "iPhone"
    } else if ua.contains("iPad") {
        "iPad"
    } else if ua.contains("Android") {
        "Android"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "macOS"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("CrOS") {
        "ChromeOS"
    } else if ua.contains("Linux") {
        "Linux"
    } else {
        ""
    };
    match (browser, os) {
        ("", "") => "Unknown device".to_owned(),
        (b, "") => b.to_owned(),
        ("", o) => o.to_owned(),
        (b, o) => format!("{b} on {o}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_like_a_person_says_them() {
        assert_eq!(ago(100, 90), "just now");
        assert_eq!(ago(1000, 880), "2 minutes ago");
        assert_eq!(ago(3700, 0), "1 hour ago");
        assert_eq!(ago(3 * 86400, 0), "3 days ago");
    }

    #[test]
    fn devices_are_named_by_browser_and_system() {
        assert_eq!(
            device("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"),
            "Firefox on Linux"
        );
        assert_eq!(
            device(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Mobile/15E148 Safari/604.1"
            ),
            "Safari on iPhone"
        );
        assert_eq!(device("curl/8.0"), "Unknown device");
    }
}
