"""The banner's built-in wording in English, German, French, Spanish and Simplified Chinese.

The banner script carries no texts: ``GET /consent`` hands it the wording for one language, built
from these defaults with the site's own ``texts`` laid over them. Because the defaults are part of
the configuration the consent log hashes, a site owner can prove the exact words a visitor saw,
whether they came from the site or from here. Changing a default here changes that hash; it does
not re-prompt anyone (only ``policy_version`` does).
"""

from __future__ import annotations

TEXT_KEYS = (
    "title", "description", "accept_all", "reject_all", "settings", "settings_title",
    "settings_description", "save", "close", "privacy_policy", "always_on", "services", "receipt",
    "consent_id", "decided_at", "reopen", "gpc_notice", "policy_changed", "expired", "regime_changed",
    "error", "download_data", "erase_data", "erase_warning", "erase_confirm", "cancel", "erased",
    "download_error", "erase_error",
)
# Keys added after 1.0 (the visitor's data buttons): a site's own language without built-in texts
# may leave them out and gets them in English, so an upgrade never stops a configured gateway.
LATER_KEYS = ("download_data", "erase_data", "erase_warning", "erase_confirm", "cancel", "erased",
              "download_error", "erase_error")
RTL_LANGUAGES = frozenset({"ar", "arc", "ckb", "dv", "fa", "he", "ks", "ps", "sd", "ug", "ur", "yi"})

DEFAULT_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "We value your privacy",
        "description": "With your consent we use cookies and similar technologies to measure visits "
                       "and, if you allow it, for marketing. You can change or withdraw your choice at "
                       "any time under “Privacy settings”.",
        "accept_all": "Accept all",
        "reject_all": "Reject all",
        "settings": "Settings",
        "settings_title": "Privacy settings",
        "settings_description": "Choose what you allow. Necessary cookies keep the site working and "
                                "cannot be switched off.",
        "save": "Save choices",
        "close": "Close",
        "privacy_policy": "Privacy policy",
        "always_on": "Always on",
        "services": "Services",
        "receipt": "Your consent record",
        "consent_id": "Consent ID",
        "decided_at": "Decided on",
        "reopen": "Privacy settings",
        "gpc_notice": "Your browser sent a Global Privacy Control signal, so we recorded it as “Reject "
                      "all”. You can still allow categories here.",
        "policy_changed": "Our privacy policy has changed since your last choice. Please choose again.",
        "expired": "Your previous choice has expired. Please choose again.",
        "regime_changed": "Please confirm your choice for this site.",
        "error": "Your choice could not be saved. Please try again.",
        "download_data": "Download my data",
        "erase_data": "Erase my data",
        "erase_warning": "This permanently erases the visits and events stored under your consent ID, and "
                         "your choice becomes “Reject all”. It cannot be undone.",
        "erase_confirm": "Yes, erase",
        "cancel": "Cancel",
        "erased": "Your data has been erased. Events erased: {n}. Only necessary cookies are used from "
                  "now on.",
        "download_error": "Your data could not be downloaded. Please try again later.",
        "erase_error": "Your data could not be erased. Please try again later.",
    },
    "de": {
        "title": "Wir respektieren Ihre Privatsphäre",
        "description": "Mit Ihrer Einwilligung verwenden wir Cookies und ähnliche Technologien, um "
                       "Besuche zu messen, und, wenn Sie es erlauben, für Marketing. Sie können Ihre "
                       "Auswahl jederzeit unter „Datenschutz-Einstellungen“ ändern oder widerrufen.",
        "accept_all": "Alle akzeptieren",
        "reject_all": "Alle ablehnen",
        "settings": "Einstellungen",
        "settings_title": "Datenschutz-Einstellungen",
        "settings_description": "Wählen Sie, was Sie erlauben. Notwendige Cookies halten die Website "
                                "funktionsfähig und können nicht abgeschaltet werden.",
        "save": "Auswahl speichern",
        "close": "Schließen",
        "privacy_policy": "Datenschutzerklärung",
        "always_on": "Immer aktiv",
        "services": "Dienste",
        "receipt": "Ihr Einwilligungsnachweis",
        "consent_id": "Einwilligungs-ID",
        "decided_at": "Datum der Entscheidung",
        "reopen": "Datenschutz-Einstellungen",
        "gpc_notice": "Ihr Browser hat ein Global-Privacy-Control-Signal gesendet; wir haben es als "
                      "„Alle ablehnen“ gespeichert. Sie können hier dennoch Kategorien erlauben.",
        "policy_changed": "Unsere Datenschutzerklärung hat sich seit Ihrer letzten Auswahl geändert. "
                          "Bitte wählen Sie erneut.",
        "expired": "Ihre letzte Auswahl ist abgelaufen. Bitte wählen Sie erneut.",
        "regime_changed": "Bitte bestätigen Sie Ihre Auswahl für diese Website.",
        "error": "Ihre Auswahl konnte nicht gespeichert werden. Bitte versuchen Sie es erneut.",
        "download_data": "Meine Daten herunterladen",
        "erase_data": "Meine Daten löschen",
        "erase_warning": "Damit werden die unter Ihrer Einwilligungs-ID gespeicherten Besuche und "
                         "Ereignisse endgültig gelöscht, und Ihre Auswahl wird zu „Alle ablehnen“. Das "
                         "lässt sich nicht rückgängig machen.",
        "erase_confirm": "Ja, löschen",
        "cancel": "Abbrechen",
        "erased": "Ihre Daten wurden gelöscht. Gelöschte Ereignisse: {n}. Ab jetzt werden nur notwendige "
                  "Cookies verwendet.",
        "download_error": "Ihre Daten konnten nicht heruntergeladen werden. Bitte versuchen Sie es später "
                          "erneut.",
        "erase_error": "Ihre Daten konnten nicht gelöscht werden. Bitte versuchen Sie es später erneut.",
    },
    "fr": {
        "title": "Nous respectons votre vie privée",
        "description": "Avec votre consentement, nous utilisons des cookies et des technologies "
                       "similaires pour mesurer l’audience et, si vous l’autorisez, à des fins de marketing. "
                       "Vous pouvez modifier ou retirer votre choix à tout moment dans « Paramètres de "
                       "confidentialité ».",
        "accept_all": "Tout accepter",
        "reject_all": "Tout refuser",
        "settings": "Personnaliser",
        "settings_title": "Paramètres de confidentialité",
        "settings_description": "Choisissez ce que vous autorisez. Les cookies nécessaires font "
                                "fonctionner le site et ne peuvent pas être désactivés.",
        "save": "Enregistrer mes choix",
        "close": "Fermer",
        "privacy_policy": "Politique de confidentialité",
        "always_on": "Toujours actifs",
        "services": "Services",
        "receipt": "Votre preuve de consentement",
        "consent_id": "Identifiant du consentement",
        "decided_at": "Choix fait le",
        "reopen": "Paramètres de confidentialité",
        "gpc_notice": "Votre navigateur a envoyé un signal Global Privacy Control ; nous l’avons "
                      "enregistré comme « Tout refuser ». Vous pouvez tout de même autoriser des "
                      "catégories ici.",
        "policy_changed": "Notre politique de confidentialité a changé depuis votre dernier choix. "
                          "Merci de choisir à nouveau.",
        "expired": "Votre choix précédent a expiré. Merci de choisir à nouveau.",
        "regime_changed": "Merci de confirmer votre choix pour ce site.",
        "error": "Votre choix n’a pas pu être enregistré. Veuillez réessayer.",
        "download_data": "Télécharger mes données",
        "erase_data": "Effacer mes données",
        "erase_warning": "Cette action efface définitivement les visites et les événements enregistrés "
                         "sous votre identifiant de consentement, et votre choix devient « Tout "
                         "refuser ». Elle est irréversible.",
        "erase_confirm": "Oui, effacer",
        "cancel": "Annuler",
        "erased": "Vos données ont été effacées. Événements effacés : {n}. Seuls les cookies "
                  "nécessaires sont désormais utilisés.",
        "download_error": "Vos données n’ont pas pu être téléchargées. Veuillez réessayer plus tard.",
        "erase_error": "Vos données n’ont pas pu être effacées. Veuillez réessayer plus tard.",
    },
    "es": {
        "title": "Respetamos tu privacidad",
        "description": "Con tu consentimiento usamos cookies y tecnologías similares para medir las "
                       "visitas y, si lo permites, para marketing. Puedes cambiar o retirar tu elección "
                       "en cualquier momento en «Configuración de privacidad».",
        "accept_all": "Aceptar todo",
        "reject_all": "Rechazar todo",
        "settings": "Configurar",
        "settings_title": "Configuración de privacidad",
        "settings_description": "Elige lo que permites. Las cookies necesarias hacen que el sitio "
                                "funcione y no se pueden desactivar.",
        "save": "Guardar selección",
        "close": "Cerrar",
        "privacy_policy": "Política de privacidad",
        "always_on": "Siempre activas",
        "services": "Servicios",
        "receipt": "Tu registro de consentimiento",
        "consent_id": "ID de consentimiento",
        "decided_at": "Decidido el",
        "reopen": "Configuración de privacidad",
        "gpc_notice": "Tu navegador envió una señal Global Privacy Control, así que la registramos como "
                      "«Rechazar todo». Aun así puedes permitir categorías aquí.",
        "policy_changed": "Nuestra política de privacidad ha cambiado desde tu última elección. "
                          "Vuelve a elegir, por favor.",
        "expired": "Tu elección anterior ha caducado. Vuelve a elegir, por favor.",
        "regime_changed": "Confirma tu elección para este sitio, por favor.",
        "error": "No se ha podido guardar tu elección. Inténtalo de nuevo.",
        "download_data": "Descargar mis datos",
        "erase_data": "Borrar mis datos",
        "erase_warning": "Esto borra para siempre las visitas y los eventos guardados con tu ID de "
                         "consentimiento, y tu elección pasa a ser «Rechazar todo». No se puede deshacer.",
        "erase_confirm": "Sí, borrar",
        "cancel": "Cancelar",
        "erased": "Tus datos se han borrado. Eventos borrados: {n}. A partir de ahora solo se usan las "
                  "cookies necesarias.",
        "download_error": "No se han podido descargar tus datos. Inténtalo de nuevo más tarde.",
        "erase_error": "No se han podido borrar tus datos. Inténtalo de nuevo más tarde.",
    },
    "zh-CN": {
        "title": "我们重视您的隐私",
        "description": "经您同意后，我们才会使用 Cookie 及类似技术统计访问情况；如您允许，也会用于营销。"
                       "您可以随时在“隐私设置”中更改或撤回您的选择。",
        "accept_all": "全部接受",
        "reject_all": "全部拒绝",
        "settings": "设置",
        "settings_title": "隐私设置",
        "settings_description": "请选择您允许的类别。必要 Cookie 用于保证网站正常运行，无法关闭。",
        "save": "保存选择",
        "close": "关闭",
        "privacy_policy": "隐私政策",
        "always_on": "始终启用",
        "services": "服务",
        "receipt": "您的同意记录",
        "consent_id": "同意编号",
        "decided_at": "选择时间",
        "reopen": "隐私设置",
        "gpc_notice": "您的浏览器发送了“全球隐私控制”（GPC）信号，我们已将其记录为“全部拒绝”。"
                      "您仍可在此允许部分类别。",
        "policy_changed": "自您上次选择以来，我们的隐私政策已更新，请重新选择。",
        "expired": "您之前的选择已过期，请重新选择。",
        "regime_changed": "请确认您对本网站的选择。",
        "error": "您的选择未能保存，请重试。",
        "download_data": "下载我的数据",
        "erase_data": "删除我的数据",
        "erase_warning": "此操作将永久删除以您的同意编号存储的访问和事件记录，并将您的选择改为“全部拒绝”。"
                         "此操作无法撤销。",
        "erase_confirm": "确认删除",
        "cancel": "取消",
        "erased": "您的数据已删除，共删除 {n} 条事件记录。此后仅使用必要 Cookie。",
        "download_error": "您的数据未能下载，请稍后重试。",
        "erase_error": "您的数据未能删除，请稍后重试。",
    },
}

# Labels and descriptions of the three standard categories; a site's own categories bring theirs.
DEFAULT_CATEGORY_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "necessary": {
        "en": ("Necessary", "Needed for the site to work and to remember this choice. No tracking."),
        "de": ("Notwendig", "Für den Betrieb der Website und zum Speichern dieser Auswahl nötig. "
                            "Kein Tracking."),
        "fr": ("Nécessaires", "Indispensables au fonctionnement du site et à la mémorisation de ce "
                              "choix. Aucun suivi."),
        "es": ("Necesarias", "Imprescindibles para que el sitio funcione y para recordar esta elección. "
                             "Sin seguimiento."),
        "zh-CN": ("必要", "网站运行及记住本次选择所必需，不用于跟踪。"),
    },
    "analytics": {
        "en": ("Analytics", "Measures visits and page views so we can improve the site."),
        "de": ("Statistik", "Misst Besuche und Seitenaufrufe, damit wir die Website verbessern können."),
        "fr": ("Mesure d’audience", "Mesure les visites et les pages vues pour améliorer le site."),
        "es": ("Analíticas", "Miden las visitas y las páginas vistas para mejorar el sitio."),
        "zh-CN": ("统计分析", "统计访问量和页面浏览量，帮助我们改进网站。"),
    },
    "marketing": {
        "en": ("Marketing", "Lets advertising partners measure campaigns and show relevant ads."),
        "de": ("Marketing", "Erlaubt Werbepartnern, Kampagnen zu messen und passende Werbung zu zeigen."),
        "fr": ("Marketing", "Permet à nos partenaires publicitaires de mesurer les campagnes et "
                            "d’afficher des publicités pertinentes."),
        "es": ("Marketing", "Permiten a los socios publicitarios medir campañas y mostrar anuncios "
                            "relevantes."),
        "zh-CN": ("营销", "允许广告合作伙伴衡量推广效果并展示相关广告。"),
    },
}


def text_direction(language: str) -> str:
    return "rtl" if language.split("-")[0].lower() in RTL_LANGUAGES else "ltr"


# Traditional Chinese readers are better served by the next choice (or English) than by zh-CN.
TRADITIONAL_CHINESE = ("zh-tw", "zh-hk", "zh-mo", "zh-hant")


def best_language(candidates: list[str], available: list[str]) -> str | None:
    """The first candidate tag available exactly (case-insensitive, ``_`` read as ``-``), else by
    its primary subtag (de-AT → de, zh-Hans-CN → zh-CN); None when nothing fits."""
    by_lower = {tag.lower(): tag for tag in available}
    by_primary: dict[str, str] = {}
    for tag in available:
        by_primary.setdefault(tag.split("-")[0].lower(), tag)
    for candidate in candidates:
        tag = candidate.strip().lower().replace("_", "-")
        if tag in by_lower:
            return by_lower[tag]
        if tag.startswith(TRADITIONAL_CHINESE):
            continue
        if (primary := by_primary.get(tag.split("-")[0])) is not None:
            return primary
    return None


def accept_language(header: str, limit: int = 12) -> list[str]:
    """Language tags from an Accept-Language header, most preferred first (``*`` and q=0 dropped)."""
    weighted = []
    for position, part in enumerate(header.split(",")[:limit]):
        tag, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and 0 < quality <= 1:  # also drops nan and inf
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


LATER_KEYS_IN_ENGLISH = {key: DEFAULT_TEXTS["en"][key] for key in LATER_KEYS}
