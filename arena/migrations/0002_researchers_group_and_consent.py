"""Create the "researchers" group (may export preference data) and the first consent text."""
from django.contrib.auth.management import create_permissions
from django.db import migrations

CONSENT_V1 = {
    "text_eu": (
        "Ikerketa honetan parte hartzen duzu euskarazko hizkuntza-ereduak ebaluatzeko. "
        "Zure galderak, ereduen erantzunak eta zure botoak gordeko ditugu, eta ikerketarako "
        "datu-multzo anonimo gisa argitara daitezke. Zure izena, helbide elektronikoa eta IPa ez dira "
        "inoiz argitaratuko. Ez idatzi datu pertsonalik galderetan. Noiznahi deskarga eta ezaba "
        "ditzakezu zure datuak."
    ),
    "text_es": (
        "Participas en un estudio para evaluar modelos de lenguaje en euskera. Guardaremos tus "
        "preguntas, las respuestas de los modelos y tus votos, que pueden publicarse como un conjunto "
        "de datos anónimo para investigación. Tu nombre, correo e IP nunca se publicarán. No escribas "
        "datos personales en las preguntas. Puedes descargar y borrar tus datos cuando quieras."
    ),
    "text_en": (
        "You are taking part in a study that evaluates Basque language models. We store your prompts, "
        "the models' answers and your votes, which may be published as an anonymous research dataset. "
        "Your name, e-mail and IP address are never published. Do not write personal data in your "
        "prompts. You can download and delete your data at any time."
    ),
}


def forwards(apps, schema_editor):
    app_config = apps.get_app_config("arena")
    app_config.models_module = True  # create_permissions skips apps without a models module
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="researchers")
    group.permissions.add(Permission.objects.get(codename="export_votes", content_type__app_label="arena"))
    ConsentText = apps.get_model("arena", "ConsentText")
    if not ConsentText.objects.exists():
        ConsentText.objects.create(version="2026-11-v1", is_active=True, **CONSENT_V1)
    apps.get_model("arena", "ArenaConfig").objects.get_or_create(pk=1)


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="researchers").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("arena", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
