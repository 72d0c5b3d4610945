"""What the demo says, in English and in Bahasa Indonesia: one template per line it prints.

The socialisation and training that Bungo reg. 28/2024 Pasal 8(2) asks of the Dinas
twice a year are held for regency staff, so ``splp demo --lang id`` narrates in Bahasa
Indonesia; English stays the default. Both languages have the same keys and the same
placeholders (a test checks it). The words follow ``docs/id/glosarium.md``.

>>> Phrases("id")("when.revoked")
'setelah pencabutan'
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("en", "id")

_EN = {
    "progress.starting": "starting",
    "step.start": "starting the directory service, its broker reconciler and the audit sink",
    "say.directory": "directory service on {url} (SQLite store, temporary)",
    "say.sink": "audit sink consuming splp.audit.sink in vhost {vhost}",
    "say.done": "[done] adapter, agency API, audit sink and directory stopped; vhost deleted",
    "step.register": "the administrator registers Dukcapil, Dinsos and the theme {theme}",
    "say.party": "party {party}: API token issued, broker user {user} made by the reconciler",
    "step.publish": "Dukcapil publishes its population register and starts its HTTP adapter",
    "say.published": "published {service} in theme {theme}; REST API on {url}",
    "say.adapter": "HTTP adapter consuming {queue}, descriptor and grants from the directory",
    "step.before-grant": "Dinsos calls before it has a grant",
    "when.no-grant": "no grant yet",
    "step.pasal-7": "Pasal 7: Dinsos applies, the administrator approves, Dukcapil grants",
    "say.applied": "dinsos applied: request {id} is {state}",
    "say.approved": "the administrator approved: {state}",
    "say.granted": "dukcapil granted: {state}, quota {quota} calls/minute",
    "step.calls": "Dinsos makes real calls through the bus",
    "say.call": "[call] {operation} -> 200 in {ms:.1f} ms: {reply}",
    "label.unknown-nik": "unknown NIK",
    "label.malformed-nik": "malformed NIK",
    "say.error": "[error] {label}: {name} {status} {type}: {detail}",
    "step.gateway": (
        "an HTTP-only application of Dinsos gets a token and calls through the HTTP gateway"
    ),
    "say.gateway": "[gateway] {url}: {client} registered as an application of dinsos",
    "say.curl": "[curl] the same with curl: {command}",
    "say.gateway-call": "[gateway] POST {path} -> {status} in {ms:.1f} ms: {reply}",
    "step.flood": "Dinsos sends {flood} calls at once: the adapter enforces the quota",
    "say.throttled": (
        "[throttled] {throttled} of {flood} calls: TooManyRequests {status}, "
        "retry after {retry:g} s ({detail})"
    ),
    "say.within-quota": "[call] the other {count} were answered within the quota",
    "step.revoke": "the administrator revokes the grant",
    "say.revoked": (
        "revoked: the reconciler withdrew the broker permission and closed the connection"
    ),
    "when.revoked": "after the revocation",
    "say.refused": "[refused] {when}: the broker refused the publish ({error})",
    "step.report": "the audit trail, its verification, the usage and the abuse reports",
    "say.trail": "[audit] {count} records of the demo in the hash-chained audit store:",
    "say.broker-event": "{time} {kind} user {user}",
    "say.broker-actor": " by {actor}",
    "say.record": "[audit] #{seq} {text}",
    "say.verify": "[verify] audit chain intact: {records} records, head {head}",
    "say.usage-period": "[usage] from {start} to {end}",
    "say.usage-row": "[usage] {day} {by} {name}: {figures} active_grants={grants}",
    "usage.by-service": "service",
    "usage.by-requester": "requester",
    "say.abuse": (
        "[abuse] {requester}: {refused} refused "
        "({throttled} throttled, {denied} denied) of {calls} calls"
    ),
    "finished": "demo finished: {calls} calls through the bus",
    "say.portal": "the portal (Aplikasi SPLP) is open on {url}/ ; sign in as:",
    "say.login": "{role} of {party}: {email}  password {password}",
    "say.portal-wait": "everything keeps running; press Ctrl-C to stop the demo and delete it all",
}

_ID = {
    "progress.starting": "memulai",
    "step.start": "menjalankan layanan direktori, penyelaras broker, dan penampung audit",
    "say.directory": "layanan direktori berjalan di {url} (basis data SQLite sementara)",
    "say.sink": "penampung audit membaca antrean splp.audit.sink pada vhost {vhost}",
    "say.done": (
        "[selesai] adapter, API perangkat daerah, penampung audit, dan layanan direktori "
        "dihentikan; vhost dihapus"
    ),
    "step.register": "administrator mendaftarkan Dukcapil, Dinsos, dan tema layanan {theme}",
    "say.party": (
        "pihak {party}: token API diterbitkan, pengguna broker {user} dibuat oleh penyelaras"
    ),
    "step.publish": (
        "Dukcapil memublikasikan layanan data kependudukan dan menjalankan adapter HTTP-nya"
    ),
    "say.published": "{service} dipublikasikan pada tema layanan {theme}; REST API di {url}",
    "say.adapter": (
        "adapter HTTP membaca antrean {queue}; deskriptor dan hak akses diambil dari "
        "layanan direktori"
    ),
    "step.before-grant": "Dinsos memanggil layanan sebelum memperoleh hak akses",
    "when.no-grant": "belum ada hak akses",
    "step.pasal-7": (
        "Pasal 7: Dinsos mengajukan permohonan akses, administrator menyetujui, "
        "Dukcapil memberikan akses"
    ),
    "say.applied": "dinsos mengajukan permohonan akses: permohonan {id} berstatus {state}",
    "say.approved": "administrator menyetujui permohonan: {state}",
    "say.granted": "dukcapil memberikan akses: {state}, kuota {quota} panggilan/menit",
    "step.calls": "Dinsos melakukan panggilan nyata melalui bus",
    "say.call": "[panggilan] {operation} -> 200 dalam {ms:.1f} ms: {reply}",
    "label.unknown-nik": "NIK tidak terdaftar",
    "label.malformed-nik": "format NIK salah",
    "say.error": "[galat] {label}: {name} {status} {type}: {detail}",
    "step.gateway": (
        "aplikasi Dinsos yang hanya berbicara HTTP memperoleh token dan memanggil melalui "
        "gerbang HTTP"
    ),
    "say.gateway": "[gerbang] {url}: {client} terdaftar sebagai aplikasi dinsos",
    "say.curl": "[curl] setara dengan curl: {command}",
    "say.gateway-call": "[gerbang] POST {path} -> {status} dalam {ms:.1f} ms: {reply}",
    "step.flood": "Dinsos mengirim {flood} panggilan sekaligus: adapter menegakkan kuota",
    "say.throttled": (
        "[dibatasi] {throttled} dari {flood} panggilan: TooManyRequests {status}, "
        "coba lagi setelah {retry:g} detik ({detail})"
    ),
    "say.within-quota": "[panggilan] {count} panggilan lainnya dilayani dalam batas kuota",
    "step.revoke": "administrator mencabut hak akses",
    "say.revoked": "dicabut: penyelaras menarik izin broker dan menutup koneksi Dinsos",
    "when.revoked": "setelah pencabutan",
    # the broker's own words (ACCESS_REFUSED ...) without the SDK's English sentence
    "say.refused": "[ditolak] {when}: broker menolak pesan yang dikirim ({reason})",
    "step.report": "jejak audit, verifikasinya, laporan penggunaan, dan laporan penyalahgunaan",
    "say.trail": "[audit] {count} catatan demo dalam penyimpanan audit berantai hash:",
    "say.broker-event": "{time} {kind} pengguna {user}",
    "say.broker-actor": " oleh {actor}",
    "say.record": "[audit] #{seq} {text}",
    "say.verify": "[verifikasi] rantai audit utuh: {records} catatan, hash terakhir {head}",
    "say.usage-period": "[penggunaan] dari {start} sampai {end}",
    "say.usage-row": "[penggunaan] {day} {by} {name}: {figures} active_grants={grants}",
    "usage.by-service": "layanan",
    "usage.by-requester": "requester",
    "say.abuse": (
        "[penyalahgunaan] {requester}: {refused} ditolak "
        "({throttled} dibatasi, {denied} tanpa hak akses) dari {calls} panggilan"
    ),
    "finished": "demo selesai: {calls} panggilan melalui bus",
    "say.portal": "portal (Aplikasi SPLP) terbuka di {url}/ ; masuk sebagai:",
    "say.login": "{role} dari {party}: {email}  kata sandi {password}",
    "say.portal-wait": (
        "semua tetap berjalan; tekan Ctrl-C untuk menghentikan demo dan menghapus semuanya"
    ),
}

TEMPLATES: dict[str, dict[str, str]] = {"en": _EN, "id": _ID}


class Phrases:
    """The templates of one language; calling it with a key and fields gives the line."""

    def __init__(self, language: str = "en") -> None:
        if language not in TEMPLATES:
            raise ValueError(f"no narration in {language!r}; choose one of {LANGUAGES}")
        self.language = language
        self.templates = TEMPLATES[language]

    def __call__(self, key: str, **fields: Any) -> str:
        return self.templates[key].format(**fields)
