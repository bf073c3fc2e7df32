"""The privacy notice's wording in the banner's five built-in languages, as data.

A plain string is a sentence; a pair is a list item (label, text). ``{name}`` fields are filled by
``gateway.rights.notice`` from the site's configuration and the banner's own button names, so the
notice names exactly what the visitor sees. Every language has every key (a test checks it).
"""

from __future__ import annotations

Template = str | tuple[str, str]

NOTICE_TEXTS: dict[str, dict[str, Template]] = {
    "en": {
        "title": "Analytics and cookie consent",
        "intro": "{site} measures its audience with its own analytics service and asks for your consent in "
                 "a cookie banner. This section describes what that service records and how you stay in "
                 "control. It is generated from the site's current configuration (privacy policy version "
                 "{policy}).",
        "collected": "What is recorded",
        "collected_intro": "Only while you allow “{analytics}”, each page view and action on the site is "
                           "recorded with:",
        "no_analytics": "This site's banner has no analytics category, so no analytics data is recorded.",
        "opt_out": "Where the law of the country you visit from (estimated from your IP address) does not "
                   "require consent in advance, these categories are on until you switch them off: "
                   "{categories}. You can do so at any time under “{settings_title}”.",
        "pages": ("Pages", "the address and title of each page you view, the page, search engine or "
                  "campaign that brought you here, and the time. Parameters that could identify you, such "
                  "as tokens, e-mail addresses or session ids, are removed from addresses."),
        "actions": ("Actions", "downloads, clicks on links to other sites, searches on this site and "
                    "other events the site measures."),
        "device": ("Device type", "desktop, phone or tablet, with brand and model where your browser "
                   "reveals them."),
        "os": ("Operating system", "name and version."),
        "browser": ("Browser", "name and version."),
        "screen": ("Screen", "width and height in pixels."),
        "language": ("Language", "the language your browser prefers."),
        "location": ("Location", "country, region and city, estimated from your IP address; nothing more "
                     "precise."),
        "isp": ("Internet provider", "the name of your internet provider or organisation, estimated from "
                "your IP address."),
        "visitor": ("Pseudonymous identifier", "a random number tied to your consent id, so that visits "
                    "can be counted without knowing who you are. After a withdrawal, an expiry or a "
                    "policy change, a new consent gets a new one: data from before and after is never "
                    "linked."),
        "never": "What is never stored",
        "never_ip": ("IP address", "it is used for a moment, to estimate your location as described "
                     "above, and then discarded: it is never written to the database or to a log."),
        "never_identity": ("Identity", "no name, e-mail address or account details, and no fingerprint of "
                           "your device."),
        "never_elsewhere": ("Other websites", "nothing about your visits to other websites; the data is "
                            "not combined with data from elsewhere."),
        "purposes": "Purposes, by category",
        "purposes_intro": "You decide category by category in the banner; “{necessary}” cannot be switched "
                          "off.",
        "retention": "How long it is kept",
        "retention_events": ("Analytics data", "{days} from the day it was recorded; then it is deleted "
                             "automatically."),
        "retention_choice": ("Your choice", "{days}, in the cookie {cookie} on your device; after that, "
                             "or when this privacy policy changes, the banner asks again."),
        "retention_proof": ("Proof of consent", "each decision (consent id, chosen categories, time, "
                            "policy version and the texts shown, language, country and browser family; no "
                            "IP address) is kept for {days} after your last decision. It outlives the "
                            "analytics data because the site must be able to prove that a consent was "
                            "given (GDPR Art. 7(1))."),
        "recipients": "Recipients",
        "recipients_text": "None. {site} runs this analytics service itself, as a first party. The data "
                           "described here is not sold or passed on, and no third-party analytics or "
                           "advertising service receives it.",
        "rights": "Your rights and how to use them",
        "rights_intro": "Open “{settings_title}” at any time with the floating button at the edge of the "
                        "page or a link on the site. Once you have made a choice, it shows your receipt "
                        "(“{receipt}”) with your consent id, the key to your data, and these options:",
        "withdraw": ("Withdraw or change your consent", "switch categories off and choose “{save}”, or "
                     "choose “{reject_all}”. It is as easy as giving consent and takes effect at once; "
                     "what was recorded before stays lawful, but you can erase it (see below)."),
        "object": ("Object", "refusing or withdrawing “{analytics}” stops all analytics recording from "
                   "that moment."),
        "access": ("Access and a copy of your data", "“{download}” gives you a JSON file with the history "
                   "of your consent decisions and every analytics event stored under your consent id."),
        "erase": ("Erasure", "“{erase}” deletes every analytics event stored under your consent id and "
                  "records your decision as a refusal. Only the proof of your decisions remains, for the "
                  "period given above."),
        "request": ("Requests by other means", "you can also contact the site owner (see the contact "
                    "details in this privacy policy). Quote the consent id from your receipt: without it "
                    "your data cannot be found, because nothing stored identifies you directly."),
        "signals": ("Browser signals", "if your browser sends {signals} before you have made a choice, "
                    "this is recorded as a refusal; you can still allow categories in the banner."),
        "gpc": "Global Privacy Control", "dnt": "Do Not Track",
        "or": " or ", "list_sep": ", ", "label_sep": ": ",
        "services_fmt": "{label}: {list}.", "sentence_sep": " ", "day": "1 day", "days": "{n} days",
    },
    "de": {
        "title": "Statistik und Cookie-Einwilligung",
        "intro": "{site} misst die Nutzung der Website mit einem eigenen Statistikdienst und bittet Sie in "
                 "einem Cookie-Banner um Ihre Einwilligung. Dieser Abschnitt beschreibt, was dieser Dienst "
                 "erfasst und wie Sie die Kontrolle behalten. Er wird aus der aktuellen Konfiguration der "
                 "Website erzeugt (Datenschutzerklärung, Version {policy}).",
        "collected": "Was erfasst wird",
        "collected_intro": "Nur solange Sie „{analytics}“ erlauben, wird jeder Seitenaufruf und jede "
                           "Aktion auf der Website mit diesen Angaben gespeichert:",
        "no_analytics": "Das Banner dieser Website hat keine Statistik-Kategorie; es werden daher keine "
                        "Statistikdaten erfasst.",
        "opt_out": "Wo das Recht des Landes, aus dem Sie die Website besuchen (anhand Ihrer IP-Adresse "
                   "geschätzt), keine vorherige Einwilligung verlangt, sind diese Kategorien aktiv, bis "
                   "Sie sie abschalten: {categories}. Das können Sie jederzeit unter „{settings_title}“ "
                   "tun.",
        "pages": ("Seiten", "Adresse und Titel jeder aufgerufenen Seite, die Seite, Suchmaschine oder "
                  "Kampagne, über die Sie gekommen sind, und die Uhrzeit. Parameter, die Sie "
                  "identifizieren könnten, etwa Tokens, E-Mail-Adressen oder Sitzungskennungen, werden "
                  "aus Adressen entfernt."),
        "actions": ("Aktionen", "Downloads, Klicks auf Links zu anderen Websites, Suchen auf dieser "
                    "Website und andere Ereignisse, die die Website misst."),
        "device": ("Gerätetyp", "Desktop, Smartphone oder Tablet, mit Hersteller und Modell, soweit Ihr "
                   "Browser sie mitteilt."),
        "os": ("Betriebssystem", "Name und Version."),
        "browser": ("Browser", "Name und Version."),
        "screen": ("Bildschirm", "Breite und Höhe in Pixeln."),
        "language": ("Sprache", "die von Ihrem Browser bevorzugte Sprache."),
        "location": ("Standort", "Land, Region und Stadt, anhand Ihrer IP-Adresse geschätzt; nichts "
                     "Genaueres."),
        "isp": ("Internetanbieter", "der Name Ihres Internetanbieters oder Ihrer Organisation, anhand "
                "Ihrer IP-Adresse geschätzt."),
        "visitor": ("Pseudonyme Kennung", "eine Zufallszahl, die an Ihre Einwilligungs-ID gebunden ist, "
                    "damit Besuche gezählt werden können, ohne dass bekannt ist, wer Sie sind. Nach einem "
                    "Widerruf, einem Ablauf oder einer Änderung der Datenschutzerklärung erhält eine neue "
                    "Einwilligung eine neue Kennung: Daten von vorher und nachher werden nie verknüpft."),
        "never": "Was nie gespeichert wird",
        "never_ip": ("IP-Adresse", "Sie wird nur kurz verwendet, um Ihren Standort wie oben beschrieben "
                     "zu schätzen, und dann verworfen: Sie gelangt nie in die Datenbank oder in ein "
                     "Protokoll."),
        "never_identity": ("Identität", "kein Name, keine E-Mail-Adresse, keine Kontodaten und kein "
                           "Fingerabdruck Ihres Geräts."),
        "never_elsewhere": ("Andere Websites", "nichts über Ihre Besuche auf anderen Websites; die Daten "
                            "werden nicht mit Daten aus anderen Quellen zusammengeführt."),
        "purposes": "Zwecke nach Kategorie",
        "purposes_intro": "Sie entscheiden im Banner für jede Kategorie einzeln; „{necessary}“ lässt sich "
                          "nicht abschalten.",
        "retention": "Wie lange gespeichert wird",
        "retention_events": ("Statistikdaten", "{days} ab dem Tag der Erfassung; danach werden sie "
                             "automatisch gelöscht."),
        "retention_choice": ("Ihre Auswahl", "{days} im Cookie {cookie} auf Ihrem Gerät; danach, oder "
                             "wenn sich diese Datenschutzerklärung ändert, fragt das Banner erneut."),
        "retention_proof": ("Nachweis der Einwilligung", "Jede Entscheidung (Einwilligungs-ID, gewählte "
                            "Kategorien, Zeitpunkt, Version der Datenschutzerklärung und angezeigte "
                            "Texte, Sprache, Land und Browserfamilie; keine IP-Adresse) wird bis {days} "
                            "nach Ihrer letzten Entscheidung aufbewahrt, länger als die Statistikdaten, "
                            "weil die Website nachweisen können muss, dass eine Einwilligung erteilt "
                            "wurde (Art. 7 Abs. 1 DSGVO)."),
        "recipients": "Empfänger",
        "recipients_text": "Keine. {site} betreibt diesen Statistikdienst selbst (als Erstanbieter). Die "
                           "hier beschriebenen Daten werden weder verkauft noch weitergegeben, und kein "
                           "Statistik- oder Werbedienst eines Dritten erhält sie.",
        "rights": "Ihre Rechte und wie Sie sie ausüben",
        "rights_intro": "Öffnen Sie jederzeit „{settings_title}“, über die schwebende Schaltfläche am "
                        "Seitenrand oder einen Link auf der Website. Sobald Sie eine Auswahl getroffen "
                        "haben, finden Sie dort Ihren Beleg („{receipt}“) mit Ihrer Einwilligungs-ID, dem "
                        "Schlüssel zu Ihren Daten, und diese Möglichkeiten:",
        "withdraw": ("Einwilligung widerrufen oder ändern", "Kategorien abschalten und „{save}“ wählen, "
                     "oder „{reject_all}“ wählen. Das ist so einfach wie die Einwilligung selbst und "
                     "wirkt sofort; zuvor Erfasstes bleibt rechtmäßig, Sie können es aber löschen (siehe "
                     "unten)."),
        "object": ("Widerspruch", "Wenn Sie „{analytics}“ ablehnen oder widerrufen, wird ab diesem Moment "
                   "nichts mehr für die Statistik erfasst."),
        "access": ("Auskunft und Kopie Ihrer Daten", "„{download}“ liefert eine JSON-Datei mit dem "
                   "Verlauf Ihrer Einwilligungsentscheidungen und allen unter Ihrer Einwilligungs-ID "
                   "gespeicherten Statistikereignissen."),
        "erase": ("Löschung", "„{erase}“ löscht alle unter Ihrer Einwilligungs-ID gespeicherten "
                  "Statistikereignisse und speichert Ihre Entscheidung als Ablehnung. Nur der Nachweis "
                  "Ihrer Entscheidungen bleibt, für die oben genannte Dauer."),
        "request": ("Anfragen auf anderem Weg", "Sie können sich auch an den Betreiber der Website wenden "
                    "(Kontaktdaten in dieser Datenschutzerklärung). Nennen Sie dabei die Einwilligungs-ID "
                    "aus Ihrem Beleg: Ohne sie lassen sich Ihre Daten nicht finden, weil nichts "
                    "Gespeichertes Sie direkt identifiziert."),
        "signals": ("Browsersignale", "Sendet Ihr Browser {signals}, bevor Sie eine Auswahl getroffen "
                    "haben, wird das als Ablehnung gespeichert; Sie können im Banner dennoch Kategorien "
                    "erlauben."),
        "gpc": "Global Privacy Control", "dnt": "Do Not Track",
        "or": " oder ", "list_sep": ", ", "label_sep": ": ",
        "services_fmt": "{label}: {list}.", "sentence_sep": " ", "day": "1 Tag", "days": "{n} Tage",
    },
    "fr": {
        "title": "Mesure d’audience et consentement aux cookies",
        "intro": "{site} mesure son audience avec son propre service de statistiques et vous demande votre "
                 "consentement dans un bandeau cookies. Cette section décrit ce que ce service enregistre "
                 "et comment vous gardez la main. Elle est générée à partir de la configuration actuelle "
                 "du site (politique de confidentialité, version {policy}).",
        "collected": "Ce qui est enregistré",
        "collected_intro": "Uniquement tant que vous autorisez « {analytics} », chaque page vue et chaque "
                           "action sur le site est enregistrée avec :",
        "no_analytics": "Le bandeau de ce site ne comporte pas de catégorie de mesure d’audience : aucune "
                        "donnée statistique n’est donc enregistrée.",
        "opt_out": "Là où la loi du pays depuis lequel vous consultez le site (estimé à partir de votre "
                   "adresse IP) n’exige pas de consentement préalable, ces catégories sont actives jusqu’à "
                   "ce que vous les désactiviez : {categories}. Vous pouvez le faire à tout moment dans « "
                   "{settings_title} ».",
        "pages": ("Pages", "l’adresse et le titre de chaque page consultée, la page, le moteur de "
                  "recherche ou la campagne qui vous a amené ici, et l’heure. Les paramètres qui "
                  "pourraient vous identifier, comme des jetons, des adresses e-mail ou des identifiants "
                  "de session, sont retirés des adresses."),
        "actions": ("Actions", "téléchargements, clics sur des liens vers d’autres sites, recherches sur "
                    "ce site et autres événements mesurés par le site."),
        "device": ("Type d’appareil", "ordinateur, téléphone ou tablette, avec la marque et le modèle "
                   "lorsque votre navigateur les indique."),
        "os": ("Système d’exploitation", "nom et version."),
        "browser": ("Navigateur", "nom et version."),
        "screen": ("Écran", "largeur et hauteur en pixels."),
        "language": ("Langue", "la langue préférée de votre navigateur."),
        "location": ("Localisation", "pays, région et ville, estimés à partir de votre adresse IP ; rien "
                     "de plus précis."),
        "isp": ("Fournisseur d’accès", "le nom de votre fournisseur d’accès à Internet ou de votre "
                "organisation, estimé à partir de votre adresse IP."),
        "visitor": ("Identifiant pseudonyme", "un nombre aléatoire lié à votre identifiant de "
                    "consentement, qui permet de compter les visites sans savoir qui vous êtes. Après un "
                    "retrait, une expiration ou un changement de politique, un nouveau consentement "
                    "reçoit un nouvel identifiant : les données d’avant et d’après ne sont jamais reliées."),
        "never": "Ce qui n’est jamais conservé",
        "never_ip": ("Adresse IP", "elle sert un court instant à estimer votre localisation, comme décrit "
                     "ci-dessus, puis elle est écartée : elle n’est jamais écrite dans la base de données "
                     "ni dans un journal."),
        "never_identity": ("Identité", "ni nom, ni adresse e-mail, ni données de compte, et aucune "
                           "empreinte de votre appareil."),
        "never_elsewhere": ("Autres sites", "rien sur vos visites d’autres sites ; les données ne sont "
                            "pas croisées avec des données d’autres sources."),
        "purposes": "Finalités, par catégorie",
        "purposes_intro": "Vous choisissez catégorie par catégorie dans le bandeau ; la catégorie « "
                          "{necessary} » ne peut pas être désactivée.",
        "retention": "Durée de conservation",
        "retention_events": ("Données statistiques", "{days} à compter de leur enregistrement, puis elles "
                             "sont supprimées automatiquement."),
        "retention_choice": ("Votre choix", "{days}, dans le cookie {cookie} sur votre appareil ; "
                             "ensuite, ou si cette politique de confidentialité change, le bandeau vous "
                             "redemande votre choix."),
        "retention_proof": ("Preuve du consentement", "chaque décision (identifiant de consentement, "
                            "catégories choisies, date et heure, version de la politique et textes "
                            "affichés, langue, pays et famille de navigateur ; aucune adresse IP) est "
                            "conservée {days} après votre dernière décision, plus longtemps que les "
                            "données statistiques, car le site doit pouvoir prouver qu’un consentement a "
                            "été donné (article 7, paragraphe 1, du RGPD)."),
        "recipients": "Destinataires",
        "recipients_text": "Aucun. {site} exploite lui-même ce service de statistiques, en première "
                           "partie. Les données décrites ici ne sont ni vendues ni transmises, et aucun "
                           "service tiers de statistiques ou de publicité ne les reçoit.",
        "rights": "Vos droits et comment les exercer",
        "rights_intro": "Ouvrez « {settings_title} » à tout moment, avec le bouton flottant au bord de la "
                        "page ou un lien sur le site. Une fois votre choix fait, vous y trouvez votre "
                        "preuve (« {receipt} ») avec votre identifiant de consentement, la clé de vos "
                        "données, et ces options :",
        "withdraw": ("Retirer ou modifier votre consentement", "désactivez des catégories puis choisissez "
                     "« {save} », ou choisissez « {reject_all} ». C’est aussi simple que de consentir et "
                     "l’effet est immédiat ; ce qui a été enregistré auparavant reste licite, mais vous "
                     "pouvez l’effacer (voir ci-dessous)."),
        "object": ("Opposition", "refuser ou retirer « {analytics} » arrête tout enregistrement "
                   "statistique à partir de ce moment."),
        "access": ("Accès et copie de vos données", "« {download} » vous fournit un fichier JSON avec "
                   "l’historique de vos décisions de consentement et tous les événements statistiques "
                   "conservés sous votre identifiant de consentement."),
        "erase": ("Effacement", "« {erase} » supprime tous les événements statistiques conservés sous "
                  "votre identifiant de consentement et enregistre votre décision comme un refus. Seule "
                  "la preuve de vos décisions reste, pour la durée indiquée plus haut."),
        "request": ("Demandes par un autre moyen", "vous pouvez aussi contacter le responsable du site "
                    "(coordonnées dans cette politique de confidentialité). Indiquez l’identifiant de "
                    "consentement figurant sur votre preuve : sans lui, vos données sont introuvables, "
                    "car rien de ce qui est conservé ne vous identifie directement."),
        "signals": ("Signaux du navigateur", "si votre navigateur envoie {signals} avant que vous ayez "
                    "fait un choix, c’est enregistré comme un refus ; vous pouvez tout de même autoriser "
                    "des catégories dans le bandeau."),
        "gpc": "Global Privacy Control", "dnt": "Do Not Track",
        "or": " ou ", "list_sep": ", ", "label_sep": " : ",
        "services_fmt": "{label} : {list}.", "sentence_sep": " ", "day": "1 jour", "days": "{n} jours",
    },
    "es": {
        "title": "Analítica y consentimiento de cookies",
        "intro": "{site} mide sus visitas con su propio servicio de analítica y te pide el consentimiento "
                 "en un banner de cookies. Esta sección describe qué registra ese servicio y cómo "
                 "mantienes el control. Se genera a partir de la configuración actual del sitio (política "
                 "de privacidad, versión {policy}).",
        "collected": "Qué se registra",
        "collected_intro": "Solo mientras permitas «{analytics}», cada página vista y cada acción en el "
                           "sitio se registran con:",
        "no_analytics": "El banner de este sitio no tiene una categoría de analítica, así que no se "
                        "registran datos de analítica.",
        "opt_out": "Donde la ley del país desde el que visitas el sitio (estimado a partir de tu dirección "
                   "IP) no exige un consentimiento previo, estas categorías están activas hasta que las "
                   "desactives: {categories}. Puedes hacerlo en cualquier momento en «{settings_title}».",
        "pages": ("Páginas", "la dirección y el título de cada página que ves, la página, el buscador o "
                  "la campaña que te trajo aquí, y la hora. Los parámetros que podrían identificarte, "
                  "como tokens, direcciones de correo electrónico o identificadores de sesión, se "
                  "eliminan de las direcciones."),
        "actions": ("Acciones", "descargas, clics en enlaces a otros sitios, búsquedas en este sitio y "
                    "otros eventos que mide el sitio."),
        "device": ("Tipo de dispositivo", "ordenador, móvil o tableta, con la marca y el modelo cuando tu "
                   "navegador los indica."),
        "os": ("Sistema operativo", "nombre y versión."),
        "browser": ("Navegador", "nombre y versión."),
        "screen": ("Pantalla", "ancho y alto en píxeles."),
        "language": ("Idioma", "el idioma preferido de tu navegador."),
        "location": ("Ubicación", "país, región y ciudad, estimados a partir de tu dirección IP; nada más "
                     "preciso."),
        "isp": ("Proveedor de internet", "el nombre de tu proveedor de internet o de tu organización, "
                "estimado a partir de tu dirección IP."),
        "visitor": ("Identificador seudónimo", "un número aleatorio vinculado a tu ID de consentimiento, "
                    "para contar las visitas sin saber quién eres. Tras una retirada, una caducidad o un "
                    "cambio de la política, un nuevo consentimiento recibe un identificador nuevo: los "
                    "datos de antes y de después nunca se vinculan."),
        "never": "Qué no se guarda nunca",
        "never_ip": ("Dirección IP", "se usa solo un instante para estimar tu ubicación, como se describe "
                     "arriba, y después se descarta: nunca se escribe en la base de datos ni en un "
                     "registro."),
        "never_identity": ("Identidad", "ni nombre, ni correo electrónico, ni datos de cuenta, ni una "
                           "huella digital de tu dispositivo."),
        "never_elsewhere": ("Otros sitios web", "nada sobre tus visitas a otros sitios; los datos no se "
                            "combinan con datos de otras fuentes."),
        "purposes": "Finalidades, por categoría",
        "purposes_intro": "Decides categoría por categoría en el banner; la categoría «{necessary}» no se "
                          "puede desactivar.",
        "retention": "Cuánto tiempo se conserva",
        "retention_events": ("Datos de analítica", "{days} desde que se registran; después se eliminan "
                             "automáticamente."),
        "retention_choice": ("Tu elección", "{days}, en la cookie {cookie} de tu dispositivo; después, o "
                             "si cambia esta política de privacidad, el banner vuelve a preguntarte."),
        "retention_proof": ("Prueba del consentimiento", "cada decisión (ID de consentimiento, categorías "
                            "elegidas, fecha y hora, versión de la política y textos mostrados, idioma, "
                            "país y familia de navegador; ninguna dirección IP) se conserva {days} "
                            "después de tu última decisión, más que los datos de analítica, porque el "
                            "sitio debe poder demostrar que se dio un consentimiento (art. 7.1 del RGPD)."),
        "recipients": "Destinatarios",
        "recipients_text": "Ninguno. {site} gestiona este servicio de analítica por sí mismo, como primera "
                           "parte. Los datos descritos aquí no se venden ni se ceden, y ningún servicio de "
                           "analítica o de publicidad de terceros los recibe.",
        "rights": "Tus derechos y cómo ejercerlos",
        "rights_intro": "Abre «{settings_title}» en cualquier momento con el botón flotante en el borde de "
                        "la página o con un enlace del sitio. Una vez que hayas elegido, encontrarás tu "
                        "registro («{receipt}») con tu ID de consentimiento, la clave de tus datos, y "
                        "estas opciones:",
        "withdraw": ("Retirar o cambiar tu consentimiento", "desactiva categorías y elige «{save}», o "
                     "elige «{reject_all}». Es tan fácil como dar el consentimiento y tiene efecto "
                     "inmediato; lo registrado antes sigue siendo lícito, pero puedes borrarlo (ver más "
                     "abajo)."),
        "object": ("Oposición", "rechazar o retirar «{analytics}» detiene todo registro de analítica "
                   "desde ese momento."),
        "access": ("Acceso y copia de tus datos", "«{download}» te da un archivo JSON con el historial de "
                   "tus decisiones de consentimiento y todos los eventos de analítica guardados con tu ID "
                   "de consentimiento."),
        "erase": ("Supresión", "«{erase}» borra todos los eventos de analítica guardados con tu ID de "
                  "consentimiento y registra tu decisión como un rechazo. Solo queda la prueba de tus "
                  "decisiones, durante el plazo indicado arriba."),
        "request": ("Solicitudes por otros medios", "también puedes dirigirte al responsable del sitio "
                    "(datos de contacto en esta política de privacidad). Indica el ID de consentimiento "
                    "de tu registro: sin él no se pueden encontrar tus datos, porque nada de lo guardado "
                    "te identifica directamente."),
        "signals": ("Señales del navegador", "si tu navegador envía {signals} antes de que hayas elegido, "
                    "se registra como un rechazo; aun así puedes permitir categorías en el banner."),
        "gpc": "Global Privacy Control", "dnt": "Do Not Track",
        "or": " o ", "list_sep": ", ", "label_sep": ": ",
        "services_fmt": "{label}: {list}.", "sentence_sep": " ", "day": "1 día", "days": "{n} días",
    },
    "zh-CN": {
        "title": "统计分析与 Cookie 同意",
        "intro": "“{site}”使用自己运营的统计分析服务了解网站的访问情况，并通过 Cookie 横幅征求您的同意。本"
                 "节说明该服务记录哪些信息，以及您如何掌控自己的数据。本节根据网站的当前配置自动生成（隐私"
                 "政策版本 {policy}）。",
        "collected": "记录哪些信息",
        "collected_intro": "仅在您允许“{analytics}”期间，网站才会记录您的每次页面浏览和操作，包括：",
        "no_analytics": "本网站的横幅不含统计分析类别，因此不会记录任何统计数据。",
        "opt_out": "如果您访问时所在国家或地区（根据您的 IP 地址估算）的法律不要求事先同意，以下类别默认启"
                   "用，直至您将其关闭：{categories}。您可随时在“{settings_title}”中关闭。",
        "pages": ("页面", "您浏览的每个页面的地址和标题，将您引导至此的页面、搜索引擎或推广活动，以及访问"
                  "时间。地址中可能识别您身份的参数（如令牌、电子邮件地址或会话 ID）会被删除。"),
        "actions": ("操作", "下载、点击指向其他网站的链接、站内搜索，以及网站统计的其他事件。"),
        "device": ("设备类型", "台式机、手机或平板电脑；如浏览器提供，还包括品牌和型号。"),
        "os": ("操作系统", "名称和版本。"),
        "browser": ("浏览器", "名称和版本。"),
        "screen": ("屏幕", "宽度和高度（像素）。"),
        "language": ("语言", "您的浏览器首选的语言。"),
        "location": ("位置", "国家、地区和城市，根据您的 IP 地址估算，仅精确到城市。"),
        "isp": ("网络运营商", "您的互联网服务提供商或所属机构的名称，根据您的 IP 地址估算。"),
        "visitor": ("随机标识符", "与您的同意编号关联的随机数字，用于在不知道您身份的情况下统计访问。撤回"
                    "同意、同意过期或隐私政策变更后，新的同意会使用新的标识符，前后数据绝不会关联。"),
        "never": "绝不存储的信息",
        "never_ip": ("IP 地址", "仅在访问时短暂用于估算上述位置，随即丢弃，绝不会写入数据库或日志。"),
        "never_identity": ("身份信息", "不收集姓名、电子邮件地址或账户信息，也不对您的设备进行指纹识别。"),
        "never_elsewhere": ("其他网站", "不收集您访问其他网站的任何信息，也不会将数据与其他来源的数据合并"
                            "。"),
        "purposes": "各类别的用途",
        "purposes_intro": "您可以在横幅中逐个类别作出选择；“{necessary}”类别无法关闭。",
        "retention": "保存期限",
        "retention_events": ("统计数据", "自记录之日起保存 {days}，到期后自动删除。"),
        "retention_choice": ("您的选择", "在您设备上的 Cookie {cookie} 中保存 {days}；到期后，或本隐私政策"
                             "变更时，横幅会再次询问您。"),
        "retention_proof": ("同意证明", "每项决定（同意编号、所选类别、时间、隐私政策版本及所显示的文本、"
                            "语言、国家和浏览器类型，不含 IP 地址）在您最后一次作出决定后保存 {days}。其保"
                            "存期限长于统计数据，因为网站必须能够证明曾获得同意（GDPR 第 7 条第 1 款）。"),
        "recipients": "数据接收方",
        "recipients_text": "无。“{site}”以第一方身份自行运营该统计分析服务。此处所述数据不会出售或提供给他"
                           "人，任何第三方统计或广告服务也不会收到这些数据。",
        "rights": "您的权利及行使方式",
        "rights_intro": "您可随时通过页面边缘的浮动按钮或网站上的链接打开“{settings_title}”。作出选择后，其"
                        "中会显示“{receipt}”，包括您的同意编号（查找您数据的凭据），以及以下选项：",
        "withdraw": ("撤回或更改同意", "关闭相应类别后点击“{save}”，或点击“{reject_all}”。撤回与给予同意同"
                     "样简便，并立即生效；此前已记录的数据仍属合法处理，但您可以将其删除（见下文）。"),
        "object": ("拒绝处理", "拒绝或撤回“{analytics}”后，自该时刻起不再记录任何统计数据。"),
        "access": ("查阅和获取副本", "点击“{download}”即可获得一个 JSON 文件，包含您的同意决定历史以及以您"
                   "的同意编号存储的全部统计事件。"),
        "erase": ("删除", "点击“{erase}”将删除以您的同意编号存储的全部统计事件，并将您的决定记录为拒绝。仅"
                  "保留您的决定证明，保存期限见上文。"),
        "request": ("通过其他方式提出请求", "您也可以联系网站运营者（联系方式见本隐私政策）。请提供同意记"
                    "录中的同意编号：由于存储的信息均无法直接识别您的身份，没有该编号便无法找到您的数据。"),
        "signals": ("浏览器信号", "如果您的浏览器在您作出选择前发送{signals}信号，该信号将被记录为拒绝；您"
                    "仍可在横幅中允许部分类别。"),
        "gpc": "“全球隐私控制”（GPC）", "dnt": "“请勿跟踪”（DNT）",
        "or": "或", "list_sep": "、", "label_sep": "：",
        "services_fmt": "{label}：{list}。", "sentence_sep": "", "day": "1 天", "days": "{n} 天",
    },
}
NOTICE_KEYS = tuple(NOTICE_TEXTS["en"])
