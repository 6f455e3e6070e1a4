"""Copy each vote's model pair from its battle, so rankings aggregate without a join."""
import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_pair(apps, schema_editor):
    Vote = apps.get_model("arena", "Vote")
    Battle = apps.get_model("arena", "Battle")
    battles = Battle.objects.filter(pk=OuterRef("battle_id"))
    Vote.objects.update(
        model_a_id=Subquery(battles.values("model_a_id")[:1]),
        model_b_id=Subquery(battles.values("model_b_id")[:1]),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("arena", "0002_researchers_group_and_consent"),
        ("models_serving", "0001_initial"),
    ]
    operations = [
        migrations.AddField(
            model_name="vote", name="model_a",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                    to="models_serving.servedmodel"),
        ),
        migrations.AddField(
            model_name="vote", name="model_b",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                    to="models_serving.servedmodel"),
        ),
        migrations.RunPython(copy_pair, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="vote", name="model_a",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                    to="models_serving.servedmodel"),
        ),
        migrations.AlterField(
            model_name="vote", name="model_b",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                    to="models_serving.servedmodel"),
        ),
    ]
